//! A test server: the real router and store, a clock the test moves, an admin token.
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use proofmark_core::DeviceKey;
use proofmark_server::config::Secret;
use proofmark_server::{app, AppState, Clock, Config};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const ADMIN: &str = "test-admin-token";
pub const ISSUER: &str = "https://capture.test";

pub struct TestServer {
    pub router: Router,
    pub state: AppState,
    pub time: Arc<AtomicI64>,
    pub dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or("")
    }
}

pub fn config(dir: &std::path::Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        issuer: Some(ISSUER.into()),
        admin_token: Some(Secret(ADMIN.into())),
        ..Config::default()
    }
}

impl TestServer {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        adjust(&mut config);
        let time = Arc::new(AtomicI64::new(1_800_000_000));
        let t = time.clone();
        let state = AppState::new(config, Clock::from_fn(move || t.load(Ordering::SeqCst))).await.unwrap();
        Self { router: app(state.clone()), state, time, dir }
    }

    /// [`TestServer::both`], with `adjust` applied to both configurations.
    pub async fn both_with(adjust: impl Fn(&mut Config)) -> [Self; 2] {
        let sqlite = Self::with(&adjust).await;
        let postgres = Self::postgres_with(&adjust).await;
        [sqlite, postgres]
    }

    /// The scale-out configuration: a fresh PostgreSQL schema (the test database) and a fresh bucket of a real
    /// S3 API (moto, on loopback). Fails without either: these tests never skip.
    pub async fn postgres() -> Self {
        Self::postgres_with(|_| {}).await
    }

    async fn postgres_with(adjust: impl Fn(&mut Config)) -> Self {
        let url = proofmark_store::create_postgres_schema(&proofmark_store::test_postgres_url())
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is required for these tests (PROOFMARK_TEST_DATABASE_URL): {e}"));
        let bucket = tokio::task::spawn_blocking(new_bucket).await.unwrap();
        Self::with(|c| {
            c.database_url = Some(proofmark_server::config::DatabaseUrl(url));
            c.objects.url = Some(format!("s3://{bucket}/objects"));
            c.objects.s3_endpoint = Some(moto().to_owned());
            c.objects.s3_allow_http = true;
            c.objects.s3_access_key_id = Some("test".into());
            c.objects.s3_secret_access_key = Some(Secret("test".into()));
            adjust(c);
        })
        .await
    }

    /// One server per configuration: SQLite with local files, then PostgreSQL with S3.
    pub async fn both() -> [Self; 2] {
        [Self::new().await, Self::postgres().await]
    }

    pub fn backend(&self) -> &'static str {
        self.state.store.backend()
    }

    /// Register an organisation and its owner; returns (organisation id, owner's access token).
    pub async fn account(&self, org: &str, email: &str) -> (String, String) {
        let body = json!({"email": email, "password": "correct horse battery", "full_name": "Owner", "organization_name": org});
        let r = self.json(Method::POST, "/api/v1/auth/register", &[], body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (r.body["organization"]["id"].as_str().unwrap().into(), r.body["access_token"].as_str().unwrap().into())
    }

    /// A request with `Authorization: Bearer token` (and a JSON body unless `Value::Null`).
    pub async fn authed(&self, method: Method, path: &str, token: &str, body: Value) -> Reply {
        let auth = format!("Bearer {token}");
        if body.is_null() {
            self.send(method, path, &[("authorization", &auth)], Body::empty()).await
        } else {
            self.json(method, path, &[("authorization", &auth)], body).await
        }
    }

    /// An organisation with an owner session, a signing key and an API key with `scopes`; returns
    /// (session token, signing key id, API key).
    pub async fn signer(&self, org: &str, scopes: &[&str]) -> (String, String, String) {
        let (_, session) = self.account(org, &format!("owner@{}.example", org.to_lowercase().replace(' ', "-"))).await;
        let r = self.authed(Method::POST, "/api/v1/keys/signing-keys", &session, json!({"name": "desk"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let key_id = r.body["id"].as_str().unwrap().to_owned();
        let r =
            self.authed(Method::POST, "/api/v1/keys/api-keys", &session, json!({"name": "ci", "scopes": scopes})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (session, key_id, r.body["key"].as_str().unwrap().to_owned())
    }

    /// `POST /api/v1/sign` with these multipart parts (name, file name, bytes).
    pub async fn sign(&self, token: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Reply {
        let (content_type, body) = multipart(parts);
        let auth = format!("Bearer {token}");
        self.send(
            Method::POST,
            "/api/v1/sign",
            &[("authorization", &auth), ("content-type", &content_type)],
            Body::from(body),
        )
        .await
    }

    /// A GET that returns the raw bytes (file downloads).
    pub async fn get_bytes(&self, path: &str, token: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.into_body().collect().await.unwrap().to_bytes().to_vec())
    }

    pub fn advance(&self, seconds: i64) {
        self.time.fetch_add(seconds, Ordering::SeqCst);
    }

    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Body) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Reply { status, headers, body }
    }

    pub async fn json(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Value) -> Reply {
        let mut h = headers.to_vec();
        h.push(("content-type", "application/json"));
        self.send(method, path, &h, Body::from(body.to_string())).await
    }

    pub async fn publisher(&self, body: Value) -> String {
        let r = self.json(Method::POST, "/publishers", &[("authorization", &format!("Bearer {ADMIN}"))], body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["publisher_id"].as_str().unwrap().to_owned()
    }

    /// Register a device for the publisher; returns (device_id, device_token, key).
    pub async fn device(&self, publisher_id: &str, external_id: &str) -> (String, String, DeviceKey) {
        let key = DeviceKey::generate(&mut rand::rngs::OsRng);
        let r = self
            .json(
                Method::POST,
                "/devices",
                &[("x-publisher-id", publisher_id)],
                json!({"external_id": external_id, "public_key": key.public_key().to_base64()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (r.body["device_id"].as_str().unwrap().into(), r.body["device_token"].as_str().unwrap().into(), key)
    }

    /// Open a session; returns (capture_id, nonce).
    pub async fn session(&self, token: &str) -> (String, String) {
        let r = self
            .send(Method::POST, "/capture/session", &[("authorization", &format!("Bearer {token}"))], Body::empty())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (r.body["capture_id"].as_str().unwrap().into(), r.body["nonce"].as_str().unwrap().into())
    }

    pub async fn trust(&self, token: &str, nonce: &str) -> Reply {
        self.json(
            Method::POST,
            "/capture/trust",
            &[("authorization", &format!("Bearer {token}"))],
            json!({"nonce": nonce}),
        )
        .await
    }
}

/// A `multipart/form-data` body of (name, file name, bytes) parts; returns (content type, body).
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "proofmark-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, file_name, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: image/png\r\n\r\n")
                    .as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The endpoint of one moto S3 server for the whole test binary, started on a free loopback port with the
/// checkers' Python (`PROOFMARK_PYTHON`, else `.venv/bin/python`). A watchdog shell stops it when this
/// process ends.
pub fn moto() -> &'static str {
    // The watchdog shell is kept (never waited for): it ends with this process.
    static ENDPOINT: std::sync::OnceLock<(String, std::sync::Mutex<std::process::Child>)> = std::sync::OnceLock::new();
    &ENDPOINT.get_or_init(|| {
        let python = std::env::var("PROOFMARK_PYTHON").unwrap_or_else(|_| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python").display().to_string()
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = format!(
            "\"$0\" -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & child=$!; \
             while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done; kill $child 2>/dev/null",
            parent = std::process::id()
        );
        let child = std::process::Command::new("sh")
            .args(["-c", &script, &python])
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting moto with {python}: {e}"));
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "moto (pip install 'moto[server]==5.2.5' into the checkers' virtualenv: scripts/test.sh does) did not start with {python}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        (format!("http://127.0.0.1:{port}"), std::sync::Mutex::new(child))
    })
    .0
}

/// A new, empty bucket on the moto server.
pub fn new_bucket() -> String {
    let name = format!("pm-{}", uuid::Uuid::new_v4().simple());
    let response = ureq::put(&format!("{}/{name}", moto())).call();
    assert!(response.is_ok(), "creating bucket {name}: {response:?}");
    name
}
