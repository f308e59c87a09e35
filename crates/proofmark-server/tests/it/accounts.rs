//! The publisher plane's accounts over HTTP, on SQLite and on PostgreSQL: register, log in, me, API keys
//! with scopes, signing keys sealed at rest — and every refusal with its exact status and message, leaving
//! nothing behind.
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestServer, ADMIN};

fn register_body(email: &str, org: &str) -> Value {
    json!({"email": email, "password": "correct horse battery", "full_name": "Lois Lane", "organization_name": org})
}

#[tokio::test]
async fn register_login_me_and_the_organisation_is_a_publisher() {
    for s in TestServer::both().await {
        let b = s.backend();
        let r = s
            .json(Method::POST, "/api/v1/auth/register", &[], register_body("Lois@Planet.example", "Daily Planet"))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
        assert_eq!(r.body["token_type"], "bearer", "{b}");
        assert_eq!(r.body["user"]["role"], "owner", "{b}");
        assert_eq!(r.body["user"]["email"], "Lois@Planet.example", "{b}");
        let (user_id, org_id) =
            (r.body["user"]["id"].clone(), r.body["organization"]["id"].as_str().unwrap().to_owned());
        assert_eq!(r.body["user"]["organization_id"], org_id.as_str(), "{b}");
        let token = r.body["access_token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("pms_"), "{b}");

        let me = s.authed(Method::GET, "/api/v1/auth/me", &token, Value::Null).await;
        assert_eq!(me.status, StatusCode::OK, "{b}");
        assert_eq!(
            (me.body["id"].clone(), me.body["organization"]["name"].clone()),
            (user_id.clone(), json!("Daily Planet"))
        );

        // Log in again, with the address in another case.
        let login = json!({"email": "lois@planet.EXAMPLE", "password": "correct horse battery"});
        let r = s.json(Method::POST, "/api/v1/auth/login", &[], login).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {:?}", r.body);
        assert_eq!(r.body["token_type"], "bearer", "{b}");
        let second = r.body["access_token"].as_str().unwrap().to_owned();
        assert_ne!(second, token, "{b}");
        assert_eq!(s.authed(Method::GET, "/api/v1/auth/me", &second, Value::Null).await.body["id"], user_id, "{b}");

        // One account model: the organisation is the capture plane's publisher, devices register under it.
        let p = s
            .send(
                Method::GET,
                &format!("/publishers/{org_id}"),
                &[("authorization", &format!("Bearer {ADMIN}"))],
                axum::body::Body::empty(),
            )
            .await;
        assert_eq!(
            (p.status, p.body["name"].clone(), p.body["sandbox"].clone()),
            (StatusCode::OK, json!("Daily Planet"), json!(true)),
            "{b}"
        );
        let (device_id, _, _) = s.device(&org_id, "newsroom-phone").await;
        assert!(!device_id.is_empty(), "{b}");
    }
}

#[tokio::test]
async fn wrong_credentials_and_expired_sessions_are_refused_alike() {
    for s in TestServer::both().await {
        let b = s.backend();
        let (_, token) = s.account("Acme", "a@acme.example").await;
        for (email, password) in
            [("a@acme.example", "wrong password"), ("nobody@acme.example", "correct horse battery")]
        {
            let r =
                s.json(Method::POST, "/api/v1/auth/login", &[], json!({"email": email, "password": password})).await;
            assert_eq!(
                (r.status, r.detail()),
                (StatusCode::UNAUTHORIZED, "Incorrect email or password"),
                "{b}: {email}"
            );
        }
        let long = "x".repeat(5000);
        let r =
            s.json(Method::POST, "/api/v1/auth/login", &[], json!({"email": "a@acme.example", "password": long})).await;
        assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Incorrect email or password"), "{b}");
        let r = s.send(Method::GET, "/api/v1/auth/me", &[], axum::body::Body::empty()).await;
        assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Not authenticated"), "{b}");
        let r = s.authed(Method::GET, "/api/v1/auth/me", "pms_made-up", Value::Null).await;
        assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Invalid or expired session token"), "{b}");
        s.advance(86_400 - 1);
        assert_eq!(s.authed(Method::GET, "/api/v1/auth/me", &token, Value::Null).await.status, StatusCode::OK, "{b}");
        s.advance(1);
        let r = s.authed(Method::GET, "/api/v1/auth/me", &token, Value::Null).await;
        assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Invalid or expired session token"), "{b}");
    }
}

#[tokio::test]
async fn bad_registrations_say_why_and_write_nothing() {
    for s in TestServer::both().await {
        let b = s.backend();
        s.account("Daily Planet", "lois@planet.example").await;
        let cases: Vec<(Value, StatusCode, &str)> = vec![
            (register_body("LOIS@planet.example", "Other Paper"), StatusCode::CONFLICT, "Email already registered"),
            (register_body("clark@planet.example", "DAILY  PLANET"), StatusCode::CONFLICT, "Organization 'DAILY  PLANET' already exists"),
            (register_body("not-an-address", "Paper A"), StatusCode::UNPROCESSABLE_ENTITY, "email \"not-an-address\" is not a valid e-mail address"),
            (register_body("a b@x.example", "Paper B"), StatusCode::UNPROCESSABLE_ENTITY, "email \"a b@x.example\" is not a valid e-mail address"),
            (json!({"email": "c@x.example", "password": "short", "full_name": "C", "organization_name": "Paper C"}),
                StatusCode::UNPROCESSABLE_ENTITY, "password must be 8 to 1024 characters"),
            (json!({"email": "d@x.example", "password": "long enough", "full_name": "", "organization_name": "Paper D"}),
                StatusCode::UNPROCESSABLE_ENTITY, "full_name must be 1 to 255 characters"),
            (register_body("e@x.example", "Paper\u{202E}E"), StatusCode::UNPROCESSABLE_ENTITY,
                "organization_name must not contain control, bidirectional-override or invisible formatting characters (found U+202E)"),
            (json!({"email": "f@x.example", "password": "long enough"}), StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid request body: missing field `full_name` at line 1 column 48"),
            (json!({"email": 7, "password": "long enough", "full_name": "F", "organization_name": "Paper F"}), StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid request body: email: invalid type: integer `7`, expected a string at line 1 column 10"),
        ];
        for (body, status, detail) in cases {
            let r = s.json(Method::POST, "/api/v1/auth/register", &[], body.clone()).await;
            assert_eq!((r.status, r.detail()), (status, detail), "{b}: {body}");
        }
        // Nothing of the refused registrations exists: their addresses cannot log in, and every
        // refused organisation name is still free.
        for email in ["clark@planet.example", "c@x.example", "d@x.example", "e@x.example"] {
            let r = s
                .json(Method::POST, "/api/v1/auth/login", &[], json!({"email": email, "password": "long enough"}))
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{b}: {email}");
        }
        for (i, org) in ["Other Paper", "Paper A", "Paper B", "Paper C", "Paper D"].iter().enumerate() {
            s.account(org, &format!("free{i}@x.example")).await;
        }
    }
}

#[tokio::test]
async fn closed_registration_is_403_and_writes_nothing() {
    let s = TestServer::with(|c| c.open_registration = false).await;
    let r = s.json(Method::POST, "/api/v1/auth/register", &[], register_body("a@x.example", "Closed")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.detail().starts_with("Registration is closed on this server"), "{}", r.detail());
    assert!(s.state.store.user_by_email("a@x.example").await.unwrap().is_none());
}

#[tokio::test]
async fn api_keys_are_shown_once_scoped_and_confined_to_their_organisation() {
    for s in TestServer::both().await {
        let b = s.backend();
        let (_, alpha) = s.account("Alpha", "owner@alpha.example").await;
        let (_, zulu) = s.account("Zulu", "owner@zulu.example").await;
        let r = s
            .authed(
                Method::POST,
                "/api/v1/keys/api-keys",
                &alpha,
                json!({"name": "ci", "scopes": ["sign", "read", "sign"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
        let key = r.body["key"].as_str().unwrap().to_owned();
        let id = r.body["id"].as_str().unwrap().to_owned();
        assert!(key.starts_with("pmk_") && key.len() > 40, "{b}");
        assert_eq!(r.body["scopes"], json!(["read", "sign"]), "{b}");
        assert!(key.starts_with(r.body["prefix"].as_str().unwrap()), "{b}");
        // Listed without the key; the default scopes are sign and read.
        let r = s.authed(Method::POST, "/api/v1/keys/api-keys", &alpha, json!({"name": "default"})).await;
        assert_eq!(r.body["scopes"], json!(["read", "sign"]), "{b}");
        let list = s.authed(Method::GET, "/api/v1/keys/api-keys", &alpha, Value::Null).await;
        assert_eq!(list.status, StatusCode::OK, "{b}");
        assert_eq!(list.body.as_array().unwrap().len(), 2, "{b}");
        assert!(!list.body.to_string().contains(&key), "{b}: a listing never shows the key");
        assert!(list.body.as_array().unwrap().iter().all(|k| k["last_used_at"].is_null()), "{b}");

        // The key authenticates as Alpha, within its scopes.
        s.advance(5);
        let r = s.authed(Method::GET, "/api/v1/keys/signing-keys", &key, Value::Null).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: read scope");
        let r = s
            .authed(Method::POST, "/api/v1/keys/api-keys", &key, json!({"name": "escalate", "scopes": ["admin"]}))
            .await;
        assert_eq!((r.status, r.detail()), (StatusCode::FORBIDDEN, "This API key lacks the 'admin' scope"), "{b}");
        let r = s.authed(Method::GET, "/api/v1/auth/me", &key, Value::Null).await;
        assert_eq!(
            (r.status, r.detail()),
            (StatusCode::FORBIDDEN, "This needs a logged-in user, not an API key"),
            "{b}"
        );
        let list = s.authed(Method::GET, "/api/v1/keys/api-keys", &alpha, Value::Null).await;
        let used = list.body.as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).unwrap();
        assert_eq!(used["last_used_at"], json!(proofmark_api::Timestamp(1_800_000_005).to_string()), "{b}");
        assert_eq!(list.body.as_array().unwrap().len(), 2, "{b}: the refused create wrote nothing");

        // Zulu can neither see nor revoke it.
        let zl = s.authed(Method::GET, "/api/v1/keys/api-keys", &zulu, Value::Null).await;
        assert_eq!(zl.body, json!([]), "{b}");
        let r = s.authed(Method::DELETE, &format!("/api/v1/keys/api-keys/{id}"), &zulu, Value::Null).await;
        assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "API key not found"), "{b}");
        assert_eq!(
            s.authed(Method::GET, "/api/v1/keys/signing-keys", &key, Value::Null).await.status,
            StatusCode::OK,
            "{b}"
        );
        let r = s.authed(Method::DELETE, "/api/v1/keys/api-keys/not-a-uuid", &alpha, Value::Null).await;
        assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "API key not found"), "{b}");

        // Bad bodies.
        for (body, detail) in [
            (json!({"name": "x", "scopes": []}), "scopes must name at least one of \"sign\", \"read\", \"admin\""),
            (
                json!({"name": "x", "scopes": ["root"]}),
                "Invalid request body: scopes[0]: scope \"root\" is not one of \"sign\", \"read\", \"admin\" at line 1 column 29",
            ),
            (json!({"name": "", "scopes": ["read"]}), "name must be 1 to 255 characters"),
        ] {
            let r = s.authed(Method::POST, "/api/v1/keys/api-keys", &alpha, body.clone()).await;
            assert_eq!((r.status, r.detail()), (StatusCode::UNPROCESSABLE_ENTITY, detail), "{b}: {body}");
        }

        // Revoked by its owner: it stops working at once, and a second revoke finds nothing.
        let r = s.authed(Method::DELETE, &format!("/api/v1/keys/api-keys/{id}"), &alpha, Value::Null).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{b}");
        let r = s.authed(Method::GET, "/api/v1/keys/signing-keys", &key, Value::Null).await;
        assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Invalid or revoked API key"), "{b}");
        let r = s.authed(Method::DELETE, &format!("/api/v1/keys/api-keys/{id}"), &alpha, Value::Null).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(
            s.authed(Method::GET, "/api/v1/keys/api-keys", &alpha, Value::Null).await.body.as_array().unwrap().len(),
            1
        );
    }
}

#[tokio::test]
async fn signing_keys_are_made_here_retired_not_deleted_and_never_stored_in_clear() {
    for s in TestServer::both().await {
        let b = s.backend();
        let (_, alpha) = s.account("Alpha", "owner@alpha.example").await;
        let (_, zulu) = s.account("Zulu", "owner@zulu.example").await;
        let r = s.authed(Method::POST, "/api/v1/keys/signing-keys", &alpha, json!({"name": "newsroom 2026"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
        assert_eq!(r.body["algorithm"], "Ed25519", "{b}");
        let public = r.body["public_key"].as_str().unwrap().to_owned();
        assert!(public.len() == 64 && public.bytes().all(|c| c.is_ascii_hexdigit()), "{b}: {public}");
        let id = r.body["id"].as_str().unwrap().to_owned();
        assert!(r.body.get("private_key").is_none(), "{b}");

        // Zulu: not listed, cannot retire it.
        assert_eq!(s.authed(Method::GET, "/api/v1/keys/signing-keys", &zulu, Value::Null).await.body, json!([]), "{b}");
        let r = s.authed(Method::DELETE, &format!("/api/v1/keys/signing-keys/{id}"), &zulu, Value::Null).await;
        assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "Signing key not found"), "{b}");

        // The private key, recovered with the KEK, appears nowhere in the raw tables.
        let key_id: proofmark_store::SigningKeyId = id.parse().unwrap();
        let stored = s.state.store.signing_key(&key_id).await.unwrap().unwrap();
        assert!(stored.retired_at.is_none(), "{b}: the refused retire wrote nothing");
        let secret = s
            .state
            .keys
            .kek()
            .unseal(&proofmark_server::accounts::seal_label(&key_id), &stored.sealed_private_key)
            .unwrap();
        assert_eq!(secret.len(), 32);
        let forms = [
            secret.to_vec(),
            hex::encode(&*secret).into_bytes(),
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &*secret).into_bytes(),
        ];
        for dump in raw_tables(&s).await {
            for form in &forms {
                assert!(
                    !dump.windows(form.len()).any(|w| w == form.as_slice()),
                    "{b}: private key material in the database"
                );
            }
        }

        // Retired, not deleted: still listed (still verifies old records), a second retire is 409.
        let r = s.authed(Method::DELETE, &format!("/api/v1/keys/signing-keys/{id}"), &alpha, Value::Null).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {:?}", r.body);
        assert!(r.body["retired_at"].is_string(), "{b}");
        let r = s.authed(Method::DELETE, &format!("/api/v1/keys/signing-keys/{id}"), &alpha, Value::Null).await;
        assert_eq!((r.status, r.detail()), (StatusCode::CONFLICT, "Signing key is already retired"), "{b}");
        let list = s.authed(Method::GET, "/api/v1/keys/signing-keys", &alpha, Value::Null).await;
        assert_eq!(list.body[0]["public_key"], public.as_str(), "{b}");
    }
}

/// Every byte the database holds for this server: the SQLite files, or every row of every table of the
/// PostgreSQL schema as text and bytea.
async fn raw_tables(s: &TestServer) -> Vec<Vec<u8>> {
    if s.backend() == "sqlite" {
        ["proofmark.db", "proofmark.db-wal"]
            .iter()
            .map(|f| std::fs::read(s.dir.path().join(f)).unwrap_or_default())
            .collect()
    } else {
        let url = match &s.state.config.database_url {
            Some(u) => u.0.clone(),
            None => unreachable!(),
        };
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(tables.contains(&"signing_keys".to_owned()));
        let mut dumps = Vec::new();
        for t in tables {
            let text: Vec<String> =
                sqlx::query_scalar(&format!("SELECT row_to_json(x)::text FROM {t} x")).fetch_all(&pool).await.unwrap();
            dumps.extend(text.into_iter().map(String::into_bytes));
        }
        let blobs: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT sealed_private_key FROM signing_keys").fetch_all(&pool).await.unwrap();
        dumps.extend(blobs);
        dumps
    }
}
