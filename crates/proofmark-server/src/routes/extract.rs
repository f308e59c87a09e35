//! The request preambles every handler shares, as extractors: the client address and its per-IP budget,
//! the bearer token, an admin, a registered device. Parts-only extractors run before any body is read.
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use proofmark_store::{ApiKeyId, Device, OrgId, PublisherId, Role, Scope, Timestamp, User};
use subtle::ConstantTimeEq;

use super::sha256_hex;
use crate::error::ApiError;
use crate::AppState;

/// The client address for per-IP rate limits: the peer address, or — when `rate_limit.client_ip_header` names
/// a header set by a trusted reverse proxy — the last address in that header. IPv6 clients are grouped by
/// their /64, which one subscriber usually holds whole.
pub(super) struct ClientIp(String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let from_header = state.config.rate_limit.client_ip_header.as_deref().and_then(|name| {
            let value = parts.headers.get(name)?.to_str().ok()?;
            value.rsplit(',').next()?.trim().parse::<std::net::IpAddr>().ok()
        });
        let ip = from_header.or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
        let key = match ip {
            Some(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
            Some(ip) => ip.to_string(),
            None => "unknown".into(),
        };
        Ok(ClientIp(key))
    }
}

pub(super) fn limit_ip(state: &AppState, ip: &ClientIp) -> Result<(), ApiError> {
    state.ip_limiter.check(&ip.0, Instant::now()).map_err(|retry_after| ApiError::RateLimited { retry_after })
}

/// One request from the client's per-IP budget. As an extractor it runs before the body is read or
/// parsed, so a client over its budget gets 429 whatever it sends.
pub(super) struct IpBudget;

impl FromRequestParts<AppState> for IpBudget {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Ok(ip) = ClientIp::from_request_parts(parts, state).await;
        limit_ip(state, &ip)?;
        Ok(IpBudget)
    }
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// An authenticated admin. As an extractor it runs before the body is read, so an unauthenticated request
/// gets 401 whatever its body; attempts count against the client's IP budget.
pub(super) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        IpBudget::from_request_parts(parts, state).await?;
        let token = bearer(&parts.headers).ok_or_else(|| ApiError::Unauthorized("Admin token required".into()))?;
        if let Some(configured) = &state.config.admin_token {
            if bool::from(configured.0.as_bytes().ct_eq(token.as_bytes())) {
                return Ok(Admin);
            }
        }
        if state.store.admin_token_exists(&sha256_hex(token.as_bytes())).await? {
            return Ok(Admin);
        }
        Err(ApiError::Unauthorized("Invalid admin token".into()))
    }
}

/// The registered device of the request's Bearer device token, after the client's per-IP budget and then
/// the device's own budget were taken. As an extractor it runs before the body is read.
pub(super) struct AuthedDevice(pub(super) Device);

impl FromRequestParts<AppState> for AuthedDevice {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        IpBudget::from_request_parts(parts, state).await?;
        Ok(AuthedDevice(require_device(state, &parts.headers).await?))
    }
}

/// The device a Bearer device token belongs to (401 `Invalid device token` otherwise), rate-limited.
async fn require_device(state: &AppState, headers: &HeaderMap) -> Result<Device, ApiError> {
    let invalid = || ApiError::Unauthorized("Invalid device token".into());
    let token = bearer(headers).ok_or_else(invalid)?;
    let hash = sha256_hex(token.as_bytes());
    let device = match state.devices.get(&hash) {
        Some(device) => device,
        None => {
            let device = state.store.device_by_token_hash(&hash).await?.ok_or_else(invalid)?;
            state.devices.put(hash, device.clone());
            device
        }
    };
    // Keyed by device id after the lookup: made-up tokens cannot fill the limiter.
    state
        .device_limiter
        .check(&device.device_id.to_string(), Instant::now())
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    Ok(device)
}

pub(super) fn parse_publisher_id(id: &str) -> Result<PublisherId, ApiError> {
    id.parse().map_err(|_| ApiError::BadRequest("Invalid publisher ID format".into()))
}

/// Who is calling the publisher API: a logged-in user (session token) or an API key, always of one
/// organisation, with the scopes the credential carries. As an extractor it runs before the body is read, and
/// after the client's per-IP budget was taken.
#[derive(Debug)]
pub(super) struct Caller {
    pub org: OrgId,
    /// Set for a session token.
    pub user: Option<User>,
    /// Set for an API key.
    pub api_key: Option<ApiKeyId>,
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// 403 unless the credential carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            return Ok(());
        }
        Err(ApiError::Forbidden(match (&self.user, self.api_key) {
            (Some(u), _) => format!("The role '{}' does not allow this ('{scope}' needed)", u.role),
            _ => format!("This API key lacks the '{scope}' scope"),
        }))
    }

    /// The user id, for what only a logged-in person may do (403 for an API key).
    pub fn person(&self) -> Result<&User, ApiError> {
        self.user.as_ref().ok_or_else(|| ApiError::Forbidden("This needs a logged-in user, not an API key".into()))
    }
}

/// What a role may do when logged in.
pub(super) fn role_scopes(role: Role) -> Vec<Scope> {
    match role {
        Role::Owner | Role::Admin => vec![Scope::Admin, Scope::Read, Scope::Sign],
        Role::Member => vec![Scope::Read, Scope::Sign],
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        IpBudget::from_request_parts(parts, state).await?;
        let token = bearer(&parts.headers).ok_or_else(|| ApiError::Unauthorized("Not authenticated".into()))?;
        let hash = sha256_hex(token.as_bytes());
        let now = Timestamp(state.now());
        if token.starts_with(crate::accounts::API_KEY_PREFIX) {
            let key = state
                .store
                .api_key_by_hash(&hash)
                .await?
                .ok_or_else(|| ApiError::Unauthorized("Invalid or revoked API key".into()))?;
            state.store.touch_api_key(&key.key_id, now).await?;
            return Ok(Caller { org: key.org_id, user: None, api_key: Some(key.key_id), scopes: key.scopes });
        }
        let user = state
            .store
            .user_by_session(&hash, now)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("Invalid or expired session token".into()))?;
        Ok(Caller { org: user.org_id, scopes: role_scopes(user.role), user: Some(user), api_key: None })
    }
}
