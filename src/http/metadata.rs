//! `GET /metadata`: the CapabilityStatement of this server.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::Security;
use super::error::fhir_json;

pub const SUBMIT: &str = "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-submit";
pub const INQUIRE: &str = "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-inquiry";

/// `rest.security`: SMART Backend Services with its token endpoint, or the plain statement
/// that this server authenticates nobody (`--insecure-no-auth`).
fn security_element(security: &Security) -> Value {
    match security {
        Security::Smart(smart) => json!({
            "cors": false,
            "service": [{
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"
                }],
                "text": "SMART Backend Services (client credentials, private_key_jwt: RS384, ES384)"
            }],
            "extension": [{
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": "token", "valueUri": smart.token_url()}]
            }],
            "description": format!(
                "Bearer tokens from {} (see {}/.well-known/smart-configuration); every FHIR \
                 interaction needs one with the matching system scope.",
                smart.token_url(),
                smart.public_url()
            )
        }),
        Security::Disabled => json!({
            "cors": false,
            "description": "INSECURE: authentication is disabled on this server \
                (--insecure-no-auth); anyone who can reach it can submit and read \
                authorizations. For local trials only."
        }),
    }
}

pub fn capability_statement(security: &Security) -> Value {
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-24",
        "kind": "instance",
        "software": {"name": "pas-adapter", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Da Vinci PAS 2.2.1 prior-authorization adapter"},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "implementationGuide": ["http://hl7.org/fhir/us/davinci-pas/ImplementationGuide/hl7.fhir.us.davinci-pas|2.2.1"],
        "rest": [{
            "mode": "server",
            "security": security_element(security),
            "resource": [
                {
                    "type": "Claim",
                    "operation": [
                        {"name": "submit", "definition": SUBMIT},
                        {"name": "inquire", "definition": INQUIRE}
                    ]
                },
                {
                    "type": "Questionnaire",
                    "interaction": [{"code": "read"}]
                },
                // review: PAS Subscriptions (R4 Backport), on the PAS topic.
                {
                    "type": "Subscription",
                    "extension": [{
                        "url": crate::notify::TOPIC_CANONICAL,
                        "valueCanonical": crate::notify::TOPIC
                    }],
                    "interaction": [
                        {"code": "create"}, {"code": "read"}, {"code": "update"},
                        {"code": "delete"}, {"code": "search-type"}
                    ],
                    "searchParam": [{"name": "status", "type": "token"}],
                    "operation": [{
                        "name": "status",
                        "definition": "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"
                    }]
                }
            ]
        }]
    })
}

pub async fn metadata(State(security): State<Security>) -> Response {
    fhir_json(StatusCode::OK, &capability_statement(&security))
}
