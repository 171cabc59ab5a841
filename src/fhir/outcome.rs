//! OperationOutcome: the one shape every rejected request is answered with.

use serde_json::{Value, json};

/// `OperationOutcome.issue.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fatal => "fatal",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Information => "information",
        }
    }
}

/// The subset of FHIR `IssueType` codes the adapter emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueType {
    /// Not parseable as JSON / FHIR.
    Structure,
    /// A required element is missing.
    Required,
    /// An element has a value outside what is allowed.
    Value,
    /// A FHIR invariant or business rule fails (e.g. an unresolved reference).
    Invariant,
    /// Too large or too deep.
    TooLong,
    /// Something the server does not support (media type, operation).
    NotSupported,
    /// A duplicate where uniqueness is required.
    Duplicate,
    /// The request conflicts with what the server holds (a claim identifier reused for other
    /// content, an update of a version already replaced).
    Conflict,
    /// The server failed.
    Exception,
    /// The server is busy.
    Transient,
    /// The request took longer than the server allows.
    Timeout,
    /// The request was not found (inquiry).
    NotFound,
    /// review: no valid reviewer credentials.
    Login,
}

impl IssueType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Structure => "structure",
            Self::Required => "required",
            Self::Value => "value",
            Self::Invariant => "invariant",
            Self::TooLong => "too-long",
            Self::NotSupported => "not-supported",
            Self::Duplicate => "duplicate",
            Self::Conflict => "conflict",
            Self::Exception => "exception",
            Self::Timeout => "timeout",
            Self::Transient => "transient",
            Self::NotFound => "not-found",
            Self::Login => "login",
        }
    }
}

/// One problem, with where it is (a FHIRPath expression) when it has a place.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub severity: Severity,
    pub code: IssueType,
    pub diagnostics: String,
    pub expression: Option<String>,
}

impl Issue {
    pub fn error(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// Attaches the FHIRPath location of the problem.
    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }

    fn to_json(&self) -> Value {
        let mut issue = json!({
            "severity": self.severity.as_str(),
            "code": self.code.as_str(),
            "diagnostics": self.diagnostics,
        });
        if let Some(expr) = &self.expression {
            issue["expression"] = json!([expr]);
        }
        issue
    }
}

/// Builds an `OperationOutcome` resource from issues.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(Issue::to_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_carries_location() {
        let oo = operation_outcome(&[Issue::error(IssueType::Required, "claim has no patient")
            .at("Bundle.entry[0].resource.patient")]);
        assert_eq!(
            oo["issue"][0]["expression"][0],
            "Bundle.entry[0].resource.patient"
        );
        assert_eq!(oo["issue"][0]["code"], "required");
        assert_eq!(oo["issue"][0]["severity"], "error");
    }
}
