//! The publisher plane's accounts (SPEC §2.1, under `/api/v1`): register, log in, who am I, API keys and
//! signing keys. Shapes follow the reference so that its clients can switch: `register` answers the user,
//! the organisation and an `access_token`; `login` answers `{access_token, token_type: "bearer"}`.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::KeyCustody;
use crate::{
    ApiKeyId, EventId, EventType, JobId, JobState, OrgId, Role, Scope, SigningAlgorithm, SigningKeyId, Timestamp,
    UserId, WebhookId,
};

/// `POST /api/v1/auth/register`: a new organisation and its first user (its owner).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub email: String,
    /// 8 to 1024 characters.
    #[schema(format = Password)]
    pub password: String,
    pub full_name: String,
    /// Becomes the organisation's (and capture publisher's) name: unique among look-alikes.
    pub organization_name: String,
}

/// `POST /api/v1/auth/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
}

// Requests that carry a password never print it.
macro_rules! redacted_debug {
    ($name:ident { $($field:ident),* }) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))$(.field(stringify!($field), &self.$field))*.finish_non_exhaustive()
            }
        }
    };
}
redacted_debug!(RegisterRequest { email, full_name, organization_name });
redacted_debug!(LoginRequest { email });

/// A user, as `register` and `me` answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub organization_id: OrgId,
    pub created_at: Timestamp,
}

/// An organisation. Its `id` is also the `publisher_id` its capture devices register under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub created_at: Timestamp,
}

/// The answer to `register` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    pub user: User,
    pub organization: Organization,
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    pub expires_at: Timestamp,
}

/// The answer to `login`: a session token for `Authorization: Bearer …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessToken {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    pub expires_at: Timestamp,
}

/// The answer to `GET /api/v1/auth/me`: the user (with its `id`) and its organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub id: UserId,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub organization_id: OrgId,
    pub organization: Organization,
    pub created_at: Timestamp,
}

/// `POST /api/v1/keys/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreate {
    /// 1–255 characters, for people to tell keys apart.
    pub name: String,
    /// Default `["sign", "read"]`; at least one.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<Scope>,
}

fn default_scopes() -> Vec<Scope> {
    vec![Scope::Sign, Scope::Read]
}

/// The answer to creating an API key: `key` is shown this once (the server keeps only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    pub id: ApiKeyId,
    pub name: String,
    pub key: String,
    /// The key's first characters, shown in listings.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
}

/// An API key in a listing (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyInfo {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// `POST /api/v1/keys/signing-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SigningKeyCreate {
    /// 1–255 characters.
    pub name: String,
    /// To register a client-held key: its Ed25519 public key, 64 hex digits. Without it the server makes
    /// the key and keeps the private half sealed.
    #[serde(default)]
    pub public_key: Option<String>,
}

/// A signing key: the public half only (the private key never leaves the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SigningKey {
    pub id: SigningKeyId,
    pub name: String,
    /// Lower-case hex of the 32-byte Ed25519 public key.
    pub public_key: String,
    pub algorithm: SigningAlgorithm,
    pub custody: KeyCustody,
    pub created_at: Timestamp,
    /// Set once the key is retired: it signs nothing new and still verifies what it signed.
    pub retired_at: Option<Timestamp>,
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreate {
    /// http(s); not into private networks unless the server allows it.
    pub url: String,
    /// Default: every event type.
    #[serde(default)]
    pub events: Option<Vec<EventType>>,
}

/// A webhook; `secret` (`whsec_…`) only in the answer to its creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub events: Vec<EventType>,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret: Option<String>,
}

/// One event's delivery to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookDelivery {
    pub job_id: JobId,
    pub event_id: EventId,
    pub event_type: EventType,
    /// `queued` (waiting for its next attempt), `running`, `done` (delivered) or `dead` (given up).
    pub state: JobState,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}
