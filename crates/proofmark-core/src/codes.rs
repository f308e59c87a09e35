//! The stable codes of a report: why a check failed or could not run ([`Reason`]) and the non-fatal
//! observations ([`FindingCode`]). Each is documented in `docs/verification.md`; a test keeps that document
//! and these lists in step, both ways. Codes may be added to, never renamed or reused. In JSON a code is its
//! snake_case name.
use core::fmt;

use serde::{Serialize, Serializer};

macro_rules! codes {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every code, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The code as it appears in reports and in the documentation.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The code with this name.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|c| c.as_str() == name)
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

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

codes! {
    /// Why a check failed, or why it could not run (status `unavailable`).
    pub enum Reason {
        // sidecar_format
        SidecarTooLarge = "sidecar_too_large",
        SidecarNotUtf8 = "sidecar_not_utf8",
        SidecarTruncated = "sidecar_truncated",
        SidecarMalformedJson = "sidecar_malformed_json",
        SidecarSchema = "sidecar_schema",
        SidecarUnsupportedVersion = "sidecar_unsupported_version",
        SidecarEmptyJwt = "sidecar_empty_jwt",
        // jwt_format
        JwtMalformed = "jwt_malformed",
        JwtCritUnsupported = "jwt_crit_unsupported",
        // jwt_algorithm
        JwtAlgNone = "jwt_alg_none",
        JwtAlgHmac = "jwt_alg_hmac",
        JwtAlgRsa = "jwt_alg_rsa",
        JwtAlgUnsupported = "jwt_alg_unsupported",
        JwtAlgMissing = "jwt_alg_missing",
        // jwt_claims
        JwtClaimMissing = "jwt_claim_missing",
        JwtClaimType = "jwt_claim_type",
        JwtAudMismatch = "jwt_aud_mismatch",
        JwtUnknownAttestationMethod = "jwt_unknown_attestation_method",
        // jwt_key
        JwtKidMissing = "jwt_kid_missing",
        JwtUnknownKid = "jwt_unknown_kid",
        JwtKeyWrongIssuer = "jwt_key_wrong_issuer",
        JwtNoKeys = "jwt_no_keys",
        /// Status `unavailable`: the issuer's keys were needed and could not be had.
        IssuerKeysUnavailable = "issuer_keys_unavailable",
        // jwt_signature
        JwtSignatureInvalid = "jwt_signature_invalid",
        JwtSignatureLength = "jwt_signature_length",
        JwtSignatureScalar = "jwt_signature_scalar",
        // content_hash
        ContentHashMismatch = "content_hash_mismatch",
        ContentHashMalformed = "content_hash_malformed",
        /// Status `unavailable`: the media's SHA-256 was not supplied.
        MediaDigestUnavailable = "media_digest_unavailable",
        // device_public_key
        DeviceKeyBase64 = "device_key_base64",
        DeviceKeyCompressed = "device_key_compressed",
        DeviceKeyLength = "device_key_length",
        DeviceKeyPrefix = "device_key_prefix",
        DeviceKeyNotOnCurve = "device_key_not_on_curve",
        // device_signature
        DeviceSignatureInvalid = "device_signature_invalid",
        DeviceSignatureRaw = "device_signature_raw",
        DeviceSignatureDer = "device_signature_der",
        DeviceSignatureBase64 = "device_signature_base64",
        // capture_id_match
        CaptureIdMismatch = "capture_id_mismatch",
        // device_key_fingerprint
        DeviceKeyFingerprintMismatch = "device_key_fingerprint_mismatch",
        // attestation_policy
        AttestationSandboxRejected = "attestation_sandbox_rejected",
        LegacyLayoutRejected = "legacy_layout_rejected",
        DeviceKeyUnboundRejected = "device_key_unbound_rejected",
        // record_watermark
        WatermarkMismatch = "watermark_mismatch",
        // record_signature
        RecordSignatureInvalid = "record_signature_invalid",
        RecordFingerprintMismatch = "record_fingerprint_mismatch",
        RecordKeyMalformed = "record_key_malformed",
        // log_inclusion
        /// Status `unavailable`: the record's log batch is not appended yet.
        LogReceiptPending = "log_receipt_pending",
        /// Status `unavailable`: the log's key was not supplied.
        LogKeyUnavailable = "log_key_unavailable",
        ReceiptMalformed = "receipt_malformed",
        LeafMalformed = "leaf_malformed",
        CheckpointMalformed = "checkpoint_malformed",
        CheckpointOriginMismatch = "checkpoint_origin_mismatch",
        CheckpointSignatureInvalid = "checkpoint_signature_invalid",
        CheckpointNotSignedByLog = "checkpoint_not_signed_by_log",
        WitnessSignatureInvalid = "witness_signature_invalid",
        WitnessQuorumNotMet = "witness_quorum_not_met",
        TreeSizeMismatch = "tree_size_mismatch",
        InclusionInvalid = "inclusion_invalid",
        RecordMismatch = "record_mismatch",
        // log_anchor
        AnchorDoesNotCoverLeaf = "anchor_does_not_cover_leaf",
        AnchorInclusionInvalid = "anchor_inclusion_invalid",
        AnchorConsistencyInvalid = "anchor_consistency_invalid",
        AnchorMalformed = "anchor_malformed",
    }
}

codes! {
    /// A non-fatal observation.
    pub enum FindingCode {
        IssuerNotTrusted = "issuer_not_trusted",
        IssuerUnverified = "issuer_unverified",
        IssuerKeysNotFetched = "issuer_keys_not_fetched",
        LegacyClaimLayout = "legacy_claim_layout",
        DeviceKeyUnbound = "device_key_unbound",
        IatInFuture = "iat_in_future",
        SandboxAttestation = "sandbox_attestation",
        CapturedAtFormat = "captured_at_format",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_round_trip() {
        let names: Vec<&str> =
            Reason::ALL.iter().map(|r| r.as_str()).chain(FindingCode::ALL.iter().map(|f| f.as_str())).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a code is used twice");
        for name in names {
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{name}");
        }
        for r in Reason::ALL {
            assert_eq!(Reason::from_name(r.as_str()), Some(*r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(Reason::from_name("no_such_code"), None);
    }
}
