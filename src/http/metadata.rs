//! `GET /metadata`: the CapabilityStatement of this server.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::fhir_json;

pub const SUBMIT: &str = "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-submit";
pub const INQUIRE: &str = "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-inquiry";

pub fn capability_statement() -> Value {
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

pub async fn metadata() -> Response {
    fhir_json(StatusCode::OK, &capability_statement())
}
