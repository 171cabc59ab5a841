//! Evidence gathering: from a checked request Bundle to [`Facts`].

pub mod facts;

pub use facts::*;

use crate::fhir::{BundleView, Entry};

/// A resource the gatherer must read could not be read as FHIR R4.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at `{path}`")]
pub struct GatherError {
    /// FHIRPath location, e.g. `Bundle.entry[3].resource`.
    pub path: String,
    pub message: String,
}

/// Gathers every fact a policy may read from the Bundle around `claim`.
///
/// SKELETON: replaced by the evidence gatherer (issue 3).
pub fn gather(view: &BundleView<'_>, claim: &Entry<'_>) -> Result<Facts, GatherError> {
    let _ = (view, claim);
    Ok(Facts::default())
}
