//! Evidence gathering: from a checked request Bundle to [`Facts`].
//!
//! Gathering is faithful extraction, not judgement: every code is kept (normalized), every
//! value typed, every fact located. Which codes mean what for a policy is the policy's
//! business. Resources are read through the typed models of [`crate::fhir::model`]; PAS
//! extensions are read from the raw JSON ([`extensions`]). A resource the gatherer must read
//! that is not valid FHIR stops gathering with a [`GatherError`] naming its location, because
//! deciding on a request whose evidence cannot be read would be guessing.

mod claim;
mod diagnoses;
mod extensions;
pub mod facts;
mod medications;
mod observations;
mod questionnaire;
mod site;
#[cfg(test)]
mod testing;

pub use facts::*;

use crate::fhir::model::{self, ModelError};
use crate::fhir::{BundleView, Entry};

use site::Site;

/// A resource the gatherer must read could not be read as FHIR R4.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at `{path}`")]
pub struct GatherError {
    /// FHIRPath location, e.g. `Bundle.entry[3].resource`.
    pub path: String,
    pub message: String,
}

impl From<ModelError> for GatherError {
    fn from(err: ModelError) -> Self {
        Self {
            path: err.path,
            message: err.message,
        }
    }
}

/// Gathers every fact a policy may read from the Bundle around `claim`.
///
/// `medications` ends with every item of this Claim as a current use
/// ([`MedicationSource::ClaimItem`]), so that the engine sees the other items requested
/// alongside the one it decides.
pub fn gather(view: &BundleView<'_>, claim: &Entry<'_>) -> Result<Facts, GatherError> {
    if claim.resource_type != "Claim" {
        return Err(GatherError {
            path: claim.path(),
            message: format!("expected a `Claim`, found `{}`", claim.resource_type),
        });
    }
    let site = Site::of(claim);
    let typed: model::Claim = model::parse(claim.resource, &site.path)?;
    let claim_facts = claim::gather(view, &site, &typed)?;
    let diagnoses = diagnoses::gather(view, &site, &typed)?;
    let observations = observations::gather(view)?;
    let mut medications = medications::gather(view, &claim::requested_entries(view))?;
    medications.extend(claim::item_uses(claim, &claim_facts));
    let answers = questionnaire::gather(view, &site, &typed)?;
    Ok(Facts {
        claim: claim_facts,
        diagnoses,
        observations,
        medications,
        answers,
    })
}
