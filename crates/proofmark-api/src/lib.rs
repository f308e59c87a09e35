//! The wire types of Proofmark's HTTP API: every request and response body, the typed ids and times they
//! carry, and the enums the store keeps. The server serialises these, the `proofmark` client commands
//! deserialise them, and the OpenAPI document is generated from their `ToSchema` derives — one definition
//! each, so the three cannot drift apart.
//!
//! Invariants: no I/O, no HTTP framework; every field that is an id, a time or a closed set of values has a
//! type of its own here, not `String`/`i64`.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// Every error answer: `{"detail": "…"}` (the reference server's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub detail: String,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new random (v4) id.
            pub fn random() -> Self {
                Self(uuid::Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        /// Any spelling `uuid` accepts (hyphenated, simple, braced, URN); [`fmt::Display`] gives the
        /// canonical lower-case hyphenated form, which is what is stored.
        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A publisher: on the capture plane the vendor whose devices register under it.
    PublisherId
);
id_type!(
    /// A registered capture device.
    DeviceId
);
id_type!(
    /// A capture session (and the capture it certifies).
    CaptureId
);
id_type!(
    /// A person's account; it belongs to one organisation.
    UserId
);
id_type!(
    /// An API key (the id, not the secret).
    ApiKeyId
);
id_type!(
    /// An organisation's signing key.
    SigningKeyId
);
id_type!(
    /// A content record: one signed (or client-registered) file.
    RecordId
);
id_type!(
    /// A webhook endpoint of an organisation.
    WebhookId
);
id_type!(
    /// An event (`content.signed`, …); every delivery of it carries this id.
    EventId
);
id_type!(
    /// A durable job.
    JobId
);

/// An organisation is a publisher: one id for the capture plane's `publisher_id` and the publisher plane's
/// signer.
pub type OrgId = PublisherId;

/// A point in time, whole seconds since the Unix epoch (UTC). On the wire it is `YYYY-MM-DDTHH:MM:SSZ`, the
/// reference server's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn unix(self) -> i64 {
        self.0
    }

    /// Parse `YYYY-MM-DDTHH:MM:SSZ` exactly (the form [`fmt::Display`] writes).
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        if b[19] != b'Z' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = &s[range];
            part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        // Days-from-civil (H. Hinnant), the inverse of `format_timestamp`.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(Self(days * 86_400 + hour * 3600 + minute * 60 + second))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&proofmark_core::sidecar::format_timestamp(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a time of the form YYYY-MM-DDTHH:MM:SSZ")))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"))
            .description(Some("UTC, whole seconds"))
            .into()
    }
}

impl ToSchema for Timestamp {}

/// A closed set of values with one stored and wire spelling each. The derived (de)serialisers name the
/// field and every allowed value when a request carries another one.
macro_rules! closed_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ToSchema)]
        #[schema(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* #[schema(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            /// The message for a value that is not one of these.
            pub fn unknown(text: &str) -> String {
                let allowed: Vec<String> = Self::ALL.iter().map(|v| format!("{:?}", v.as_str())).collect();
                format!("{} {text:?} is not one of {}", $field, allowed.join(", "))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).ok_or_else(|| serde::de::Error::custom(Self::unknown(&text)))
            }
        }
    };
}

closed_enum!(
    /// How a publisher's devices prove they run the genuine app at registration.
    AttestationProvider, "attestation_provider" {
        /// No attestation (sandbox publishers, or attestation not configured).
        None = "none",
        /// Firebase App Check tokens (`firebase_project_id` names the project).
        FirebaseAppCheck = "firebase_app_check",
    }
);

closed_enum!(
    /// A user's role in their organisation. Owners and admins manage keys and webhooks; members sign and read.
    Role, "role" {
        Owner = "owner",
        Admin = "admin",
        Member = "member",
    }
);

closed_enum!(
    /// What an API key may do: `sign` (sign and register content), `read` (records, stats), `admin` (keys
    /// and webhooks).
    Scope, "scope" {
        Sign = "sign",
        Read = "read",
        Admin = "admin",
    }
);

closed_enum!(
    /// Where content came from, as its signer declares (SPEC §2.1).
    OriginType, "origin_type" {
        Camera = "CAMERA",
        Edit = "EDIT",
        AiFull = "AI_FULL",
        AiEdit = "AI_EDIT",
        Composite = "COMPOSITE",
        Scan = "SCAN",
        Screen = "SCREEN",
    }
);

impl OriginType {
    /// What the code means, for people.
    pub fn description(self) -> &'static str {
        match self {
            OriginType::Camera => "Captured by a camera, unedited",
            OriginType::Edit => "Captured by a camera, then edited",
            OriginType::AiFull => "Generated entirely by AI",
            OriginType::AiEdit => "Captured or made by a person, then edited with AI",
            OriginType::Composite => "Composed from several sources",
            OriginType::Scan => "Scanned from a physical original",
            OriginType::Screen => "A screenshot or screen recording",
        }
    }
}

closed_enum!(
    /// How a record came to be: signed on the server, or hashes signed by the client and registered.
    RecordSource, "source" {
        Signed = "signed",
        Registered = "registered",
    }
);

closed_enum!(
    /// What webhooks are told about (SPEC §2.4).
    EventType, "event" {
        ContentSigned = "content.signed",
        BatchAnchored = "batch.anchored",
        ContentVerified = "content.verified",
    }
);

closed_enum!(
    /// Where a durable job is.
    JobState, "state" {
        Queued = "queued",
        Running = "running",
        Done = "done",
        /// Out of attempts.
        Dead = "dead",
    }
);

closed_enum!(
    /// Who holds a signing key's private half.
    KeyCustody, "custody" {
        /// Made and sealed on the server; used by `POST /api/v1/sign`.
        Server = "server",
        /// Held by the client, which signs hashes itself (`POST /api/v1/register`); the server has only the
        /// public key.
        Client = "client",
    }
);

closed_enum!(
    /// A signing key's algorithm.
    SigningAlgorithm, "algorithm" {
        Ed25519 = "Ed25519",
    }
);

pub mod account;
pub mod capture;
pub mod content;
pub mod log;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_refuse_other_forms() {
        for t in [0, 1, 951_782_400, 1_709_164_800, 4_102_444_799, -86_400, 253_402_300_799] {
            let text = Timestamp(t).to_string();
            assert_eq!(Timestamp::parse(&text), Some(Timestamp(t)), "{text}");
        }
        assert_eq!(Timestamp::parse("2024-02-29T12:00:00Z"), Some(Timestamp(1_709_208_000)));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00+00:00",
            "+024-01-01T00:00:00Z",
            "",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ids_serialise_hyphenated_and_parse_any_spelling() {
        let id: PublisherId = "{0B0C1F3E-8A51-4B4E-9A53-6A1F6F0C2D11}".parse().unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"0b0c1f3e-8a51-4b4e-9a53-6a1f6f0c2d11\"");
        assert!("not-a-uuid".parse::<DeviceId>().is_err());
    }

    #[test]
    fn enums_name_the_field_and_the_allowed_values() {
        let e = serde_json::from_str::<AttestationProvider>("\"magic\"").unwrap_err().to_string();
        assert!(e.contains(r#"attestation_provider "magic" is not one of "none", "firebase_app_check""#), "{e}");
        assert_eq!(serde_json::to_string(&AttestationProvider::FirebaseAppCheck).unwrap(), "\"firebase_app_check\"");
    }
}
