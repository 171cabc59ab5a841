//! The FHIR JSON body extractor: enforces the media type (415) and the size limit (413) and
//! answers either with an OperationOutcome. Parsing and the FHIR checks are the service's.
//!
//! On the application's routes the body has been read in full before the handler runs (see
//! `body.rs`: size limit, timeout, byte budget), so this takes the one buffer as it is, with
//! no copy; the 413 here guards a router that mounts a handler without that reader.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;

use super::error::ApiError;
use crate::fhir::{Issue, IssueType};
use crate::pas::Rejection;

/// Media types a PAS body may come as.
const ACCEPTED: &[&str] = &["application/fhir+json", "application/json"];

/// A request body declared as FHIR JSON, within the size limit.
#[derive(Debug)]
pub struct FhirBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for FhirBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !ACCEPTED.contains(&essence.as_str()) {
            let shown = if content_type.is_empty() {
                "none".to_owned()
            } else {
                format!("`{essence}`")
            };
            return Err(Rejection::new(
                415,
                vec![Issue::error(
                    IssueType::NotSupported,
                    format!(
                        "media type {shown} is not supported; send `application/fhir+json` or `application/json`"
                    ),
                )],
            )
            .into());
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) if rejection.status().as_u16() == 413 => Err(Rejection::new(
                413,
                vec![Issue::error(
                    IssueType::TooLong,
                    match declared {
                        Some(len) => format!("request body is `{len}` bytes; over the limit"),
                        None => "request body is over the size limit".to_owned(),
                    },
                )],
            )
            .into()),
            Err(rejection) => Err(Rejection::bad_request(Issue::error(
                IssueType::Structure,
                format!("could not read the request body: {}", rejection.body_text()),
            ))
            .into()),
        }
    }
}
