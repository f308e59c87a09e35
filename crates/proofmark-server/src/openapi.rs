//! The OpenAPI 3.1 document served at `/openapi.json`. A test checks that it names every route.
use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

pub fn document() -> Value {
    let string = json!({"type": "string"});
    let datetime = json!({"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$"});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Proofmark capture-trust API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "SignedShot-compatible capture plane (SPEC §1.4). Errors are {\"detail\": \"…\"}."
        },
        "components": {
            "securitySchemes": {
                "admin": {"type": "http", "scheme": "bearer", "description": "An admin token (`proofmark admin token`, or PROOFMARK_ADMIN_TOKEN)"},
                "device": {"type": "http", "scheme": "bearer", "description": "The device_token from POST /devices"}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["detail"], "properties": {"detail": string}},
                "Health": {"type": "object", "properties": {"status": string, "version": string}},
                "PublisherCreate": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 255},
                    "sandbox": {"type": "boolean", "default": true},
                    "attestation_provider": {"enum": ["none", "firebase_app_check"], "default": "none"},
                    "attestation_bundle_id": {"type": ["string", "null"]},
                    "firebase_project_id": {"type": ["string", "null"]}}},
                "PublisherPatch": {"type": "object", "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 255},
                    "sandbox": {"type": "boolean"},
                    "attestation_provider": {"enum": ["none", "firebase_app_check"]},
                    "attestation_bundle_id": {"type": ["string", "null"]},
                    "firebase_project_id": {"type": ["string", "null"]}}},
                "Publisher": {"type": "object", "properties": {
                    "publisher_id": {"type": "string", "format": "uuid"}, "name": string, "sandbox": {"type": "boolean"},
                    "attestation_provider": string, "attestation_bundle_id": {"type": ["string", "null"]},
                    "firebase_project_id": {"type": ["string", "null"]}, "created_at": datetime}},
                "DeviceCreate": {"type": "object", "required": ["external_id", "public_key"], "properties": {
                    "external_id": {"type": "string", "minLength": 1, "maxLength": 255},
                    "public_key": {"type": "string", "description": "standard base64 of the 65-byte uncompressed P-256 point"}}},
                "Device": {"type": "object", "properties": {
                    "device_id": {"type": "string", "format": "uuid"}, "publisher_id": {"type": "string", "format": "uuid"},
                    "external_id": string, "device_token": string, "created_at": datetime}},
                "Session": {"type": "object", "properties": {
                    "capture_id": {"type": "string", "format": "uuid"}, "nonce": string, "expires_at": datetime}},
                "TrustRequest": {"type": "object", "required": ["nonce"], "properties": {"nonce": string}},
                "TrustToken": {"type": "object", "properties": {"trust_token": {"type": "string", "description": "ES256 JWT (SPEC §1.2)"}}},
                "Validation": {"type": "object", "description": "The reference server's shape plus Proofmark's report (docs/verification.md)"},
                "Jwks": {"type": "object", "properties": {"keys": {"type": "array", "items": {"type": "object"}}}}
            }
        },
        "paths": {
            "/health": {"get": {"summary": "Liveness", "responses": {"200": ok("OK", "Health")}}},
            "/publishers": {"post": {"summary": "Create a publisher", "security": [{"admin": []}],
                "requestBody": body("PublisherCreate"),
                "responses": {"201": ok("Created", "Publisher"), "401": error_response("No or invalid admin token"),
                              "409": error_response("Publisher '<name>' already exists"), "422": error_response("Invalid body")}}},
            "/publishers/{publisher_id}": {
                "parameters": [{"name": "publisher_id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "get": {"summary": "Read a publisher", "security": [{"admin": []}],
                    "responses": {"200": ok("OK", "Publisher"), "400": error_response("Invalid publisher ID format"),
                                  "401": error_response("No or invalid admin token"), "404": error_response("Publisher not found")}},
                "patch": {"summary": "Change a publisher", "security": [{"admin": []}], "requestBody": body("PublisherPatch"),
                    "responses": {"200": ok("OK", "Publisher"), "400": error_response("Invalid publisher ID format"),
                                  "401": error_response("No or invalid admin token"), "404": error_response("Publisher not found"),
                                  "409": error_response("Name taken"), "422": error_response("Invalid body")}}},
            "/devices": {"post": {"summary": "Register a device",
                "parameters": [
                    {"name": "X-Publisher-ID", "in": "header", "required": true, "schema": {"type": "string", "format": "uuid"}},
                    {"name": "X-Attestation-Token", "in": "header", "required": false, "schema": string}],
                "requestBody": body("DeviceCreate"),
                "responses": {"201": ok("Created", "Device"), "400": error_response("Invalid publisher ID or public key"),
                              "401": error_response("Attestation required or invalid"), "404": error_response("Publisher not found"),
                              "408": error_response("Body or request timeout"), "409": error_response("Device '<external_id>' already exists"),
                              "413": error_response("Body too large"), "422": error_response("Invalid body"),
                              "429": error_response("Rate limited (Retry-After)")}}},
            "/capture/session": {"post": {"summary": "Open a capture session", "security": [{"device": []}],
                "responses": {"201": ok("Created", "Session"), "401": error_response("Invalid device token"),
                              "429": error_response("Rate limited (Retry-After)")}}},
            "/capture/trust": {"post": {"summary": "Redeem the session nonce for a trust token", "security": [{"device": []}],
                "requestBody": body("TrustRequest"),
                "responses": {"200": ok("OK", "TrustToken"), "400": error_response("Invalid or expired nonce"),
                              "401": error_response("Invalid device token"), "408": error_response("Body or request timeout"),
                              "413": error_response("Body too large"), "422": error_response("Invalid body"),
                              "429": error_response("Rate limited (Retry-After)")}}},
            "/validate": {"post": {"summary": "Verify media and its sidecar against this server's keys",
                "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"type": "object",
                    "required": ["media", "sidecar"],
                    "properties": {"media": {"type": "string", "format": "binary"}, "sidecar": {"type": "string", "format": "binary"}}}}}},
                "responses": {"200": ok("Verified (valid or not)", "Validation"), "400": error_response("Validation failed: <reason>"),
                              "408": error_response("Body or request timeout"), "413": error_response("Upload too large"),
                              "422": error_response("Missing part"), "429": error_response("Rate limited (Retry-After)")}}},
            "/.well-known/jwks.json": {"get": {"summary": "Issuer keys, current and retired", "responses": {"200": ok("OK", "Jwks")}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}}
        }
    })
}
