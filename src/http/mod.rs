//! The HTTP shell over [`Service`](crate::service::Service): routes, the FHIR JSON body
//! extractor, errors as OperationOutcome, the server's limits, and [`serve`].

mod audit;
mod auth;
mod body;
mod error;
mod extract;
mod health;
mod inquire;
mod metadata;
mod questionnaire;
mod review_api;
mod review_page;
mod router;
mod server;
mod submit;
mod subscription;

pub use audit::{audit_event, parse_query as parse_audit_query};
pub use auth::{Security, Touched, authorization_numbers};
pub use error::{ApiError, fhir_json};
pub use extract::FhirBody;
pub use health::ReviewGauges;
pub use router::{AppState, ReviewActions, admin_router, app, router, router_with};
pub use server::{ServerLimits, launch, serve};
