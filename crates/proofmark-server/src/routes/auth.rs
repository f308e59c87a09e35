//! Accounts of the publisher plane (`/api/v1/auth`): register an organisation with its owner, log in, who
//! am I. An organisation is a publisher: its id is the `publisher_id` capture devices register under.
use std::sync::OnceLock;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use proofmark_api::account::{AccessToken, LoginRequest, Me, Organization, RegisterRequest, Registered, User};
use proofmark_api::ErrorBody;
use proofmark_store::{Publisher, Timestamp, UserId, UserSession};
use tokio::sync::Semaphore;

use super::extract::{Caller, IpBudget};
use crate::accounts::{self, AccountError};
use crate::error::{ApiError, Json};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/me", get(me))
}

/// Argon2id takes 19 MiB and tens of milliseconds per hash: at most two per core run at once, off the
/// async workers, so a burst of logins cannot exhaust memory or stall other requests.
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    let slots =
        SLOTS.get_or_init(|| Semaphore::new(2 * std::thread::available_parallelism().map(usize::from).unwrap_or(2)));
    let _slot = slots.acquire().await.map_err(anyhow::Error::from)?;
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(e.into()))
}

pub(super) fn user_json(u: &proofmark_store::User) -> User {
    User {
        id: u.user_id,
        email: u.email.clone(),
        full_name: u.full_name.clone(),
        role: u.role,
        organization_id: u.org_id,
        created_at: u.created_at,
    }
}

pub(super) fn org_json(p: &Publisher) -> Organization {
    Organization { id: p.publisher_id, name: p.name.clone(), created_at: p.created_at }
}

/// The store's answer, with what was taken named.
async fn create_account(
    state: &AppState,
    org: &Publisher,
    user: &proofmark_store::User,
    session: Option<&UserSession>,
) -> Result<(), ApiError> {
    accounts::create_account(state.store.as_ref(), org, user, session).await.map_err(|e| match e {
        AccountError::Store(e) => e.into(),
        taken => ApiError::Conflict(taken.to_string()),
    })
}

fn new_session(state: &AppState, user: UserId) -> (String, UserSession) {
    let now = state.now();
    let (token, token_hash) = accounts::new_session_token();
    let expires_at = Timestamp(now.saturating_add(i64::try_from(state.config.session_ttl_secs).unwrap_or(i64::MAX)));
    (token, UserSession { token_hash, user_id: user, created_at: Timestamp(now), expires_at })
}

/// Create an organisation and its owner, and log the owner in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, body = Registered),
        (status = 403, body = ErrorBody, description = "Registration is closed on this server"),
        (status = 409, body = ErrorBody, description = "Email already registered / Organization '<name>' already exists"),
        (status = 422, body = ErrorBody, description = "Invalid body, address, password or name"),
        (status = 429, body = ErrorBody, description = "Rate limited (Retry-After)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn register(
    State(state): State<AppState>,
    _: IpBudget,
    Json(body): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    if !state.config.open_registration {
        return Err(ApiError::Forbidden(
            "Registration is closed on this server; an operator creates organisations (proofmark admin create-org)"
                .into(),
        ));
    }
    accounts::check_registration(&body.email, &body.password, &body.full_name, &body.organization_name)
        .map_err(ApiError::Unprocessable)?;
    if state.store.user_by_email(&body.email).await?.is_some() {
        return Err(ApiError::Conflict("Email already registered".into()));
    }
    let password = body.password;
    let hash = off_thread(move || accounts::hash_password(&password)).await??;
    let now = Timestamp(state.now());
    let (org, user) = accounts::new_account(body.organization_name, &body.email, hash, body.full_name, now);
    let (token, session) = new_session(&state, user.user_id);
    create_account(&state, &org, &user, Some(&session)).await?;
    tracing::info!(org = %org.publisher_id, user = %user.user_id, "registered an organisation");
    let body = Registered {
        user: user_json(&user),
        organization: org_json(&org),
        access_token: token,
        token_type: "bearer".into(),
        expires_at: session.expires_at,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Log in with e-mail and password; answers a session token for `Authorization: Bearer …`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, body = AccessToken),
        (status = 401, body = ErrorBody, description = "Incorrect email or password"),
        (status = 422, body = ErrorBody, description = "Invalid body"),
        (status = 429, body = ErrorBody, description = "Rate limited (Retry-After)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn login(
    State(state): State<AppState>,
    _: IpBudget,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    // An over-long password is refused before it is hashed; the lookup and the hash run for unknown
    // addresses too, so the answer does not tell which addresses have accounts.
    if body.password.chars().count() > accounts::MAX_PASSWORD_CHARS {
        return Err(ApiError::Unauthorized("Incorrect email or password".into()));
    }
    let user = state.store.user_by_email(&body.email).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = body.password;
    let ok = off_thread(move || accounts::verify_password(&password, stored.as_deref())).await?;
    let user = match (ok, user) {
        (true, Some(user)) => user,
        _ => return Err(ApiError::Unauthorized("Incorrect email or password".into())),
    };
    let (token, session) = new_session(&state, user.user_id);
    state.store.create_user_session(&session).await?;
    Ok(axum::Json(AccessToken { access_token: token, token_type: "bearer".into(), expires_at: session.expires_at })
        .into_response())
}

/// The logged-in user and their organisation.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "accounts", security(("session" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, body = ErrorBody, description = "Not authenticated / Invalid or expired session token"),
        (status = 403, body = ErrorBody, description = "Called with an API key"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn me(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let user = caller.person()?;
    let org = state
        .store
        .publisher(&user.org_id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("user {} has no organisation", user.user_id)))?;
    Ok(axum::Json(Me {
        id: user.user_id,
        email: user.email.clone(),
        full_name: user.full_name.clone(),
        role: user.role,
        organization_id: user.org_id,
        organization: org_json(&org),
        created_at: user.created_at,
    })
    .into_response())
}
