//! SPEC §1.6 over HTTP: many concurrent redemptions of one nonce against a running server give exactly one
//! trust token, with SQLite and with PostgreSQL. (Two server processes on one PostgreSQL: the CLI tests.)
use std::sync::Arc;

use proofmark_server::{app, AppState, Clock};
use serde_json::{json, Value};

use crate::support::{config, ADMIN};

pub async fn fresh_postgres_url() -> String {
    let base = proofmark_store::test_postgres_url();
    proofmark_store::create_postgres_schema(&base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} is required (PROOFMARK_TEST_DATABASE_URL): {e}"))
}

fn post(url: &str, auth: Option<&str>, headers: &[(&str, &str)], body: Option<Value>) -> (u16, Value) {
    let mut req = ureq::post(url);
    if let Some(a) = auth {
        req = req.set("Authorization", &format!("Bearer {a}"));
    }
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match result {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{e}"),
    }
}

async fn race(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.database_url = database_url.map(proofmark_server::config::DatabaseUrl);
    cfg.rate_limit.per_device_per_minute = 0;
    cfg.rate_limit.per_ip_per_minute = 0;
    let state = AppState::new(cfg, Clock::system()).await.unwrap();
    let backend = state.store.backend();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app(state)).await });

    let b = base.clone();
    let (device_token, nonces) = tokio::task::spawn_blocking(move || {
        let (_, p) = post(&format!("{b}/publishers"), Some(ADMIN), &[], Some(json!({"name": "Race"})));
        let key = proofmark_core::DeviceKey::generate(&mut rand::rngs::OsRng);
        let (status, d) = post(
            &format!("{b}/devices"),
            None,
            &[("X-Publisher-ID", p["publisher_id"].as_str().unwrap())],
            Some(json!({"external_id": "racer", "public_key": key.public_key().to_base64()})),
        );
        assert_eq!(status, 201, "{d}");
        let token = d["device_token"].as_str().unwrap().to_owned();
        let nonces: Vec<String> = (0..5)
            .map(|_| {
                post(&format!("{b}/capture/session"), Some(&token), &[], None).1["nonce"].as_str().unwrap().to_owned()
            })
            .collect();
        (token, nonces)
    })
    .await
    .unwrap();

    let token = Arc::new(device_token);
    for nonce in nonces {
        let handles: Vec<_> = (0..24)
            .map(|_| {
                let (b, t, n) = (base.clone(), token.clone(), nonce.clone());
                tokio::task::spawn_blocking(move || {
                    post(&format!("{b}/capture/trust"), Some(&t), &[], Some(json!({"nonce": n})))
                })
            })
            .collect();
        let mut ok = 0;
        for h in handles {
            let (status, body) = h.await.unwrap();
            match status {
                200 => ok += 1,
                400 => assert_eq!(body["detail"], "Invalid or expired nonce"),
                other => panic!("{backend}: unexpected {other} {body}"),
            }
        }
        assert_eq!(ok, 1, "{backend}: exactly one of 24 concurrent redemptions gets a token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_token_per_nonce_sqlite() {
    race(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_token_per_nonce_postgres() {
    race(Some(fresh_postgres_url().await)).await;
}
