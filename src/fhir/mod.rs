//! FHIR R4 plumbing: normalized codes, the Bundle index, OperationOutcome, and the one place
//! where typed FHIR models are parsed (`model`).
//!
//! The raw JSON is kept everywhere it matters (storing, echoing, error locations); typed views
//! are built from it only where a typed read is clearer.

#[cfg(test)]
pub(crate) mod arbitrary;
pub mod bundle;
pub mod codes;
pub mod model;
pub mod outcome;
pub mod parameters;

pub use bundle::{BundleView, Entry};
pub use codes::{Code, CodeSystem};
pub use outcome::{Issue, IssueType, Severity, operation_outcome};
