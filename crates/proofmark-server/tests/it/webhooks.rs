//! Webhooks: secrets shown once, organisation scoping, URLs into private networks refused, deliveries
//! signed with HMAC-SHA256 over the timestamp and body, retried with backoff by the durable job queue.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use hmac::Mac;
use serde_json::{json, Value};

use crate::support::TestServer;

/// A request the receiver got: its headers (names lower-cased) and body.
type Seen = (Vec<(String, String)>, String);

/// A loopback HTTP receiver: answers 503 to the first `fail_first` requests, then 200; keeps every
/// request's headers and body.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end().to_owned();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
                let len: usize =
                    headers.iter().find(|(k, _)| k == "content-length").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                log.lock().unwrap().push((headers, String::from_utf8(body).unwrap()));
                let status = if n < fail_first { "503 Service Unavailable" } else { "200 OK" };
                let _ = write!(stream, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        Receiver { url, seen }
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

#[tokio::test]
async fn webhooks_are_scoped_and_never_point_into_private_networks() {
    let s = TestServer::new().await;
    let (alpha, _, _) = s.signer("Alpha", &["sign"]).await;
    let (zulu, _, _) = s.signer("Zulu", &["sign"]).await;
    for (url, detail) in [
        ("http://127.0.0.1:9/hook", "127.0.0.1 is a loopback address: webhooks are not delivered into private networks (webhooks.allow_private_targets allows it)"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is in 169.254.0.0/16 (link-local): webhooks are not delivered into private networks (webhooks.allow_private_targets allows it)"),
        ("http://[fd00::1]/", "fd00::1 is in fc00::/7 (unique local): webhooks are not delivered into private networks (webhooks.allow_private_targets allows it)"),
        ("http://localhost:8080/", "localhost is a name that exists only inside a network: webhooks are not delivered into private networks (webhooks.allow_private_targets allows it)"),
        ("ftp://hooks.example.com/", "url \"ftp://hooks.example.com/\" must be http or https"),
    ] {
        let r = s.authed(Method::POST, "/api/v1/webhooks", &alpha, json!({"url": url})).await;
        assert_eq!((r.status, r.detail()), (StatusCode::UNPROCESSABLE_ENTITY, detail), "{url}");
    }
    let r = s
        .authed(
            Method::POST,
            "/api/v1/webhooks",
            &alpha,
            json!({"url": "https://hooks.example.com/x", "events": ["content.exploded"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.detail().contains(
            "event \"content.exploded\" is not one of \"content.signed\", \"batch.anchored\", \"content.verified\""
        ),
        "{}",
        r.detail()
    );
    assert_eq!(s.authed(Method::GET, "/api/v1/webhooks", &alpha, Value::Null).await.body, json!([]), "nothing written");

    let r = s
        .authed(
            Method::POST,
            "/api/v1/webhooks",
            &alpha,
            json!({"url": "https://hooks.example.com/x", "events": ["content.signed"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.body["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = r.body["id"].as_str().unwrap().to_owned();
    let list = s.authed(Method::GET, "/api/v1/webhooks", &alpha, Value::Null).await;
    assert_eq!(list.body[0]["events"], json!(["content.signed"]));
    assert!(list.body[0].get("secret").is_none(), "the secret is shown once");
    for method in [Method::GET, Method::DELETE] {
        let r = s.authed(method.clone(), &format!("/api/v1/webhooks/{id}"), &zulu, Value::Null).await;
        assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "Webhook not found"), "{method}");
    }
    assert_eq!(
        s.authed(Method::GET, &format!("/api/v1/webhooks/{id}"), &alpha, Value::Null).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.authed(Method::DELETE, &format!("/api/v1/webhooks/{id}"), &alpha, Value::Null).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.authed(Method::GET, "/api/v1/webhooks", &alpha, Value::Null).await.body, json!([]));
}

#[tokio::test]
async fn content_signed_is_delivered_signed_and_retried_until_it_arrives() {
    for s in TestServer::both_with(|c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.retry_base_secs = 30;
    })
    .await
    {
        let b = s.backend();
        let (session, _, key) = s.signer("Hooked", &["sign", "read"]).await;
        let receiver = Receiver::start(1);
        let r = s.authed(Method::POST, "/api/v1/webhooks", &session, json!({"url": receiver.url})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
        let (hook, secret) = (r.body["id"].as_str().unwrap().to_owned(), r.body["secret"].as_str().unwrap().to_owned());
        let signed = s
            .sign(
                &key,
                &[
                    ("watermark", None, b"false"),
                    (
                        "file",
                        Some("a.png"),
                        &std::fs::read(
                            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/images/camera.png"),
                        )
                        .unwrap(),
                    ),
                ],
            )
            .await;
        assert_eq!(signed.status, StatusCode::CREATED, "{b}");
        let record = signed.body["record_id"].as_str().unwrap().to_owned();

        // First attempt: the receiver answers 503; the delivery waits 30 s and is not due before.
        let worker = proofmark_server::jobs::worker_id();
        assert_eq!(proofmark_server::jobs::run_due(&s.state, &worker).await.unwrap(), 1, "{b}");
        let d = s.authed(Method::GET, &format!("/api/v1/webhooks/{hook}/deliveries"), &session, Value::Null).await;
        assert_eq!(
            (d.body[0]["state"].clone(), d.body[0]["attempts"].clone()),
            (json!("queued"), json!(1)),
            "{b}: {:?}",
            d.body
        );
        assert_eq!(d.body[0]["last_error"], "HTTP 503", "{b}");
        assert_eq!(proofmark_server::jobs::run_due(&s.state, &worker).await.unwrap(), 0, "{b}: backoff");
        s.advance(30);
        assert_eq!(proofmark_server::jobs::run_due(&s.state, &worker).await.unwrap(), 1, "{b}");
        let d = s.authed(Method::GET, &format!("/api/v1/webhooks/{hook}/deliveries"), &session, Value::Null).await;
        assert_eq!((d.body[0]["state"].clone(), d.body[0]["attempts"].clone()), (json!("done"), json!(2)), "{b}");

        // Both attempts carried the same event, the same bytes, and a valid signature.
        let requests = receiver.requests();
        assert_eq!(requests.len(), 2, "{b}");
        let (headers, body) = &requests[1];
        assert_eq!(body, &requests[0].1, "{b}: every attempt sends the same body");
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["type"], "content.signed", "{b}");
        assert_eq!(event["data"]["id"], record.as_str(), "{b}");
        assert_eq!(header(headers, "proofmark-event-id"), event["id"].as_str().unwrap(), "{b}");
        assert_eq!(header(headers, "proofmark-event-type"), "content.signed", "{b}");
        let ts = header(headers, "proofmark-timestamp");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{ts}.{body}").as_bytes());
        assert_eq!(
            header(headers, "proofmark-signature"),
            format!("v1={}", hex::encode(mac.finalize().into_bytes())),
            "{b}"
        );
        assert_eq!(proofmark_server::jobs::run_due(&s.state, &worker).await.unwrap(), 0, "{b}: nothing left");
    }
}

#[tokio::test]
async fn a_deleted_webhook_gets_nothing_more_and_dead_deliveries_stop() {
    let s = TestServer::with(|c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.max_attempts = 2;
        c.webhooks.retry_base_secs = 1;
    })
    .await;
    let (session, _, key) = s.signer("Fickle", &["sign"]).await;
    let png = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/images/camera.png"))
        .unwrap();
    // A receiver that always fails: two attempts, then dead.
    let down = Receiver::start(usize::MAX);
    let r = s.authed(Method::POST, "/api/v1/webhooks", &session, json!({"url": down.url})).await;
    let failing = r.body["id"].as_str().unwrap().to_owned();
    s.sign(&key, &[("watermark", None, b"false"), ("file", Some("a"), &png)]).await;
    let worker = proofmark_server::jobs::worker_id();
    for _ in 0..3 {
        proofmark_server::jobs::run_due(&s.state, &worker).await.unwrap();
        s.advance(5);
    }
    let d = s.authed(Method::GET, &format!("/api/v1/webhooks/{failing}/deliveries"), &session, Value::Null).await;
    assert_eq!((d.body[0]["state"].clone(), d.body[0]["attempts"].clone()), (json!("dead"), json!(2)), "{:?}", d.body);
    assert_eq!(down.requests().len(), 2);
    s.authed(Method::DELETE, &format!("/api/v1/webhooks/{failing}"), &session, Value::Null).await;
    // A webhook deleted while its delivery waits: the delivery ends without sending.
    let up = Receiver::start(0);
    let r = s.authed(Method::POST, "/api/v1/webhooks", &session, json!({"url": up.url})).await;
    let gone = r.body["id"].as_str().unwrap().to_owned();
    s.sign(&key, &[("watermark", None, b"false"), ("file", Some("a"), &png)]).await;
    s.authed(Method::DELETE, &format!("/api/v1/webhooks/{gone}"), &session, Value::Null).await;
    assert_eq!(proofmark_server::jobs::run_due(&s.state, &worker).await.unwrap(), 1);
    assert!(up.requests().is_empty());
}

/// The address is vetted after DNS: a public-looking name that resolves to loopback is refused before any
/// connection is made (the receiver sees none), unless private targets are allowed.
#[test]
fn names_resolving_into_private_networks_are_refused_after_dns() {
    use proofmark_server::webhooks::{deliver_via, Delivery};
    let receiver = Receiver::start(0);
    let port: u16 = receiver.url.rsplit(':').next().unwrap().trim_end_matches("/hook").parse().unwrap();
    fn to_loopback(netloc: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
        let port: u16 = netloc.rsplit(':').next().unwrap().parse().unwrap();
        Ok(vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))])
    }
    let delivery = Delivery {
        webhook_id: proofmark_store::WebhookId::random(),
        event_id: proofmark_store::EventId::random(),
        event_type: proofmark_store::EventType::ContentSigned,
        body: "{}".into(),
    };
    let target = format!("http://hooks.example.com:{port}/hook");
    let mut config = proofmark_server::config::WebhooksConfig { timeout_secs: 2, ..Default::default() };
    let e = deliver_via(&target, b"whsec_x", &delivery, 1, &config, to_loopback).unwrap_err().to_string();
    assert!(
        e.contains(&format!("refused: hooks.example.com:{port} resolves to 127.0.0.1 is a loopback address")),
        "{e}"
    );
    assert!(receiver.requests().is_empty(), "no connection was made");
    config.allow_private_targets = true;
    assert_eq!(deliver_via(&target, b"whsec_x", &delivery, 1, &config, to_loopback).unwrap(), 200);
    assert_eq!(receiver.requests().len(), 1);
}
