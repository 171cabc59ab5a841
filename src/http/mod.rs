//! The HTTP shell over [`Service`](crate::service::Service): routes, the FHIR JSON body
//! extractor, errors as OperationOutcome, and [`launch`].

mod error;
mod extract;
mod health;
mod inquire;
mod metadata;
mod questionnaire;
mod router;
mod submit;

pub use error::{ApiError, fhir_json};
pub use extract::FhirBody;
pub use router::{AppState, launch, router};
