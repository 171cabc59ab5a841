//! Request checks for `Claim/$submit`: from raw bytes to a [`CheckedRequest`], or a
//! [`Rejection`] naming every problem found and where it is (FHIRPath).
//!
//! The checks cover what the rest of the pipeline relies on: a `collection` Bundle with an
//! identifier and a timestamp, entries with unique fullUrls, a preauthorization Claim first,
//! items with unique sequences, and Claim references that resolve inside the Bundle. Missing
//! optional elements are never an error (PAS conf-14): only what a response cannot be built
//! without is required.

use std::collections::HashMap;

use serde_json::Value;

use super::request::{CheckedRequest, Read};
use crate::fhir::{BundleView, Issue, IssueType, operation_outcome};

/// Limits on what a request may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Deepest JSON nesting accepted (objects and arrays), the root counting as 1.
    pub max_depth: usize,
    /// Most `Bundle.entry` accepted (413 above it). Every entry is indexed, checked and
    /// echoed; a PAS request for one patient carries tens, so a cap of a thousand refuses
    /// only bundles that are not one prior-authorization request.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 10 * 1024 * 1024,
            max_depth: 64,
            max_entries: 1000,
        }
    }
}

/// `Retry-After` (seconds) sent with a [`Rejection::unavailable`] answer: long enough for a
/// failing store to be noticed by `/healthz` and a load balancer.
pub const RETRY_AFTER_UNAVAILABLE: u64 = 5;

/// A request that cannot be adjudicated: the HTTP status to answer with and the issues for
/// the OperationOutcome. Transport-free: the status is a plain number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("request rejected with status {status}: {}", self.summary())]
pub struct Rejection {
    pub status: u16,
    pub issues: Vec<Issue>,
}

impl Rejection {
    pub fn new(status: u16, issues: Vec<Issue>) -> Self {
        Self { status, issues }
    }

    pub fn bad_request(issue: Issue) -> Self {
        Self::new(400, vec![issue])
    }

    /// Our own fault (500): the message is for the client, so it carries no request data.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, vec![Issue::error(IssueType::Exception, message)])
    }

    /// Ours, and passing (503 `transient`): the caller may send the same request again
    /// after [`RETRY_AFTER_UNAVAILABLE`]. The message carries no request data.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, vec![Issue::error(IssueType::Transient, message)])
    }

    /// The OperationOutcome answering this rejection.
    pub fn outcome(&self) -> Value {
        operation_outcome(&self.issues)
    }

    fn summary(&self) -> String {
        self.issues
            .iter()
            .map(|i| i.diagnostics.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Checks a raw body: size, JSON, nesting, then [`check`].
pub fn check_bytes(body: &[u8], limits: &Limits) -> Result<CheckedRequest, Rejection> {
    if body.len() > limits.max_body_bytes {
        return Err(too_large(body.len(), limits.max_body_bytes));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        // serde_json stops at 128 levels by itself; that is a nesting problem, not a syntax one.
        if e.to_string().starts_with("recursion limit exceeded") {
            Rejection::bad_request(Issue::error(
                IssueType::TooLong,
                format!(
                    "body nests deeper than `{}` levels; the limit is `{}`",
                    128, limits.max_depth
                ),
            ))
        } else {
            Rejection::bad_request(Issue::error(
                IssueType::Structure,
                format!("body is not JSON: {e}"),
            ))
        }
    })?;
    check(value, limits)
}

/// The 413 answer for a body over the limit.
pub fn too_large(len: usize, limit: usize) -> Rejection {
    Rejection::new(
        413,
        vec![Issue::error(
            IssueType::TooLong,
            format!("request body is `{len}` bytes; the limit is `{limit}` bytes"),
        )],
    )
}

/// Checks a parsed body.
pub fn check(value: Value, limits: &Limits) -> Result<CheckedRequest, Rejection> {
    let Some(root) = value.as_object() else {
        return Err(Rejection::bad_request(Issue::error(
            IssueType::Structure,
            "body is not a JSON object",
        )));
    };
    let Some(resource_type) = root.get("resourceType").and_then(Value::as_str) else {
        return Err(Rejection::bad_request(
            Issue::error(IssueType::Required, "body has no `resourceType`").at("resourceType"),
        ));
    };
    let root_name = resource_type.to_owned();
    if let Some(path) = too_deep(&value, &root_name, limits.max_depth) {
        return Err(Rejection::bad_request(
            Issue::error(
                IssueType::TooLong,
                format!(
                    "body nests deeper than the limit of `{}` levels",
                    limits.max_depth
                ),
            )
            .at(path),
        ));
    }
    let bundle = match root_name.as_str() {
        "Bundle" => value,
        "Parameters" => unwrap_parameters(value)?,
        other => {
            return Err(Rejection::bad_request(
                Issue::error(
                    IssueType::Value,
                    format!("expected a `Bundle` (or a `Parameters` carrying one), got `{other}`"),
                )
                .at(other),
            ));
        }
    };
    check_entry_count(&bundle, limits.max_entries)?;
    check_bundle(&bundle)?;
    // One index of the Bundle serves the reference checks and the reading of the request.
    let read = {
        let view = BundleView::new(&bundle);
        check_claim(&bundle, &view)?;
        if let Some(claim) = view.at(0) {
            let issues = super::claim_values::check(&view, claim);
            if !issues.is_empty() {
                return Err(Rejection::new(400, issues));
            }
        }
        Read::of(&bundle, &view, 0)
    };
    Ok(read.with(bundle, root_name == "Parameters"))
}

/// The Bundle a `Parameters` body carries ([`crate::fhir::parameters::bundle_parameter`]).
fn unwrap_parameters(mut parameters: Value) -> Result<Value, Rejection> {
    match crate::fhir::parameters::bundle_parameter(&parameters) {
        Ok(i) => Ok(parameters["parameter"][i]["resource"].take()),
        Err(gap) => Err(Rejection::bad_request(
            Issue::error(IssueType::Required, gap.message).at(gap.path),
        )),
    }
}

/// The FHIRPath of the first node deeper than `max` levels, if any. Recursion is bounded by
/// serde_json's own nesting limit (128), so it cannot overflow the stack.
fn too_deep(value: &Value, root: &str, max: usize) -> Option<String> {
    /// One step of the path to the first node past the limit.
    enum Step<'a> {
        Key(&'a str),
        Index(usize),
    }
    /// The steps to the first node past the limit, innermost first. The path is built only
    /// on the way back from a node past the limit: a request within it allocates nothing.
    fn walk(value: &Value, depth: usize, max: usize) -> Option<Vec<Step<'_>>> {
        let nested = matches!(value, Value::Object(_) | Value::Array(_));
        if nested && depth > max {
            return Some(Vec::new());
        }
        match value {
            Value::Object(map) => map.iter().find_map(|(key, child)| {
                let mut steps = walk(child, depth + 1, max)?;
                steps.push(Step::Key(key));
                Some(steps)
            }),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, child)| {
                let mut steps = walk(child, depth + 1, max)?;
                steps.push(Step::Index(i));
                Some(steps)
            }),
            _ => None,
        }
    }
    let steps = walk(value, 1, max)?;
    let mut path = root.to_owned();
    for step in steps.iter().rev() {
        match step {
            Step::Key(key) => {
                path.push('.');
                path.push_str(key);
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    Some(path)
}

/// 413 for a Bundle with more entries than the limit: like the body size, a limit of this
/// server rather than a fault of the request, so the answer says so before any other check
/// walks the entries.
fn check_entry_count(bundle: &Value, max: usize) -> Result<(), Rejection> {
    match bundle.get("entry").and_then(Value::as_array) {
        Some(entries) if entries.len() > max => Err(Rejection::new(
            413,
            vec![
                Issue::error(
                    IssueType::TooLong,
                    format!(
                        "Bundle has `{}` entries; the limit is `{max}`",
                        entries.len()
                    ),
                )
                .at("Bundle.entry"),
            ],
        )),
        _ => Ok(()),
    }
}

fn check_bundle(bundle: &Value) -> Result<(), Rejection> {
    let mut issues = Vec::new();
    match bundle.get("type").map(Value::as_str) {
        None => {
            issues.push(Issue::error(IssueType::Required, "Bundle has no `type`").at("Bundle.type"))
        }
        Some(Some("collection")) => {}
        Some(other) => issues.push(
            Issue::error(
                IssueType::Value,
                format!(
                    "Bundle type must be `collection`, got `{}`",
                    other.unwrap_or("(not a code)")
                ),
            )
            .at("Bundle.type"),
        ),
    }
    if !bundle.get("identifier").is_some_and(Value::is_object) {
        issues.push(
            Issue::error(IssueType::Required, "Bundle has no `identifier`").at("Bundle.identifier"),
        );
    }
    match bundle.get("timestamp").map(Value::as_str) {
        None => issues.push(
            Issue::error(IssueType::Required, "Bundle has no `timestamp`").at("Bundle.timestamp"),
        ),
        Some(Some(ts)) if chrono::DateTime::parse_from_rfc3339(ts).is_ok() => {}
        Some(_) => issues.push(
            Issue::error(
                IssueType::Value,
                "Bundle timestamp is not a FHIR instant (date, time with seconds, and zone)",
            )
            .at("Bundle.timestamp"),
        ),
    }
    let entries = match bundle.get("entry") {
        Some(Value::Array(entries)) if !entries.is_empty() => entries.as_slice(),
        Some(Value::Array(_)) | None => {
            issues.push(
                Issue::error(IssueType::Required, "Bundle has no entries").at("Bundle.entry"),
            );
            &[]
        }
        Some(_) => {
            issues.push(
                Issue::error(IssueType::Structure, "Bundle `entry` is not an array")
                    .at("Bundle.entry"),
            );
            &[]
        }
    };
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("Bundle.entry[{i}]");
        if !entry.is_object() {
            issues.push(Issue::error(IssueType::Structure, "entry is not an object").at(at));
            continue;
        }
        match entry.get("resource") {
            Some(resource) if resource.is_object() => {
                if !resource.get("resourceType").is_some_and(Value::is_string) {
                    issues.push(
                        Issue::error(IssueType::Required, "entry resource has no `resourceType`")
                            .at(format!("{at}.resource.resourceType")),
                    );
                }
            }
            _ => issues.push(
                Issue::error(IssueType::Required, "entry has no resource")
                    .at(format!("{at}.resource")),
            ),
        }
        match entry.get("fullUrl").and_then(Value::as_str) {
            Some(url) if !url.trim().is_empty() => {
                if let Some(first) = seen.insert(url, i) {
                    issues.push(
                        Issue::error(
                            IssueType::Duplicate,
                            format!("fullUrl `{url}` is also used by `Bundle.entry[{first}]`"),
                        )
                        .at(format!("{at}.fullUrl")),
                    );
                }
            }
            _ => issues.push(
                Issue::error(IssueType::Required, "entry has no `fullUrl`")
                    .at(format!("{at}.fullUrl")),
            ),
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(Rejection::new(400, issues))
    }
}

/// What a Claim reference may point to; empty = any resource type.
struct RefRule {
    path: String,
    reference: Value,
    types: &'static [&'static str],
}

const REQUESTED_SERVICE: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-requestedService";

fn check_claim(bundle: &Value, view: &BundleView<'_>) -> Result<(), Rejection> {
    let entry = &bundle["entry"][0];
    let claim = &entry["resource"];
    let at = "Bundle.entry[0].resource";
    let resource_type = claim["resourceType"].as_str().unwrap_or_default();
    if resource_type != "Claim" {
        return Err(Rejection::bad_request(
            Issue::error(
                IssueType::Value,
                format!("the first entry must be the `Claim`, got `{resource_type}`"),
            )
            .at(at),
        ));
    }
    let mut issues = Vec::new();
    match claim.get("use").map(Value::as_str) {
        None => issues
            .push(Issue::error(IssueType::Required, "Claim has no `use`").at(format!("{at}.use"))),
        Some(Some("preauthorization")) => {}
        Some(other) => issues.push(
            Issue::error(
                IssueType::Value,
                format!(
                    "Claim use must be `preauthorization`, got `{}`",
                    other.unwrap_or("(not a code)")
                ),
            )
            .at(format!("{at}.use")),
        ),
    }
    // What the ClaimResponse cannot be built without (ClaimResponse.type, patient, insurer).
    for element in ["type", "patient", "insurer"] {
        if !claim.get(element).is_some_and(Value::is_object) {
            issues.push(
                Issue::error(IssueType::Required, format!("Claim has no `{element}`"))
                    .at(format!("{at}.{element}")),
            );
        }
    }
    check_items(claim, at, &mut issues);
    for rule in reference_rules(claim, at) {
        check_reference(view, claim, &rule, &mut issues);
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(Rejection::new(400, issues))
    }
}

fn check_items(claim: &Value, at: &str, issues: &mut Vec<Issue>) {
    let items = match claim.get("item") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            issues.push(
                Issue::error(IssueType::Required, "Claim has no `item`").at(format!("{at}.item")),
            );
            return;
        }
    };
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{at}.item[{i}].sequence");
        match item.get("sequence") {
            None => issues
                .push(Issue::error(IssueType::Required, "Claim item has no `sequence`").at(path)),
            Some(seq) => match seq.as_u64().filter(|&s| s >= 1 && s <= u64::from(u32::MAX)) {
                None => issues.push(
                    Issue::error(
                        IssueType::Value,
                        format!("Claim item sequence `{seq}` is not a positive integer"),
                    )
                    .at(path),
                ),
                Some(s) => {
                    if let Some(first) = seen.insert(s, i) {
                        issues.push(
                            Issue::error(
                                IssueType::Duplicate,
                                format!(
                                    "Claim item sequence `{s}` is also used by `{at}.item[{first}]`"
                                ),
                            )
                            .at(path),
                        );
                    }
                }
            },
        }
    }
}

/// The Claim references that must resolve inside the Bundle, with the types they may name.
fn reference_rules(claim: &Value, at: &str) -> Vec<RefRule> {
    let mut rules = Vec::new();
    let mut push = |path: String, reference: &Value, types: &'static [&'static str]| {
        rules.push(RefRule {
            path,
            reference: reference.clone(),
            types,
        });
    };
    if let Some(r) = claim.get("patient") {
        push(format!("{at}.patient"), r, &["Patient"]);
    }
    if let Some(r) = claim.get("insurer") {
        push(format!("{at}.insurer"), r, &["Organization"]);
    }
    if let Some(r) = claim.get("provider") {
        push(
            format!("{at}.provider"),
            r,
            &["Practitioner", "PractitionerRole", "Organization"],
        );
    }
    for (i, insurance) in array(claim, "insurance").iter().enumerate() {
        if let Some(r) = insurance.get("coverage") {
            push(format!("{at}.insurance[{i}].coverage"), r, &["Coverage"]);
        }
    }
    for (i, item) in array(claim, "item").iter().enumerate() {
        for (j, ext) in array(item, "extension").iter().enumerate() {
            if ext.get("url").and_then(Value::as_str) == Some(REQUESTED_SERVICE)
                && let Some(r) = ext.get("valueReference")
            {
                push(
                    format!("{at}.item[{i}].extension[{j}].valueReference"),
                    r,
                    &[],
                );
            }
        }
    }
    for (i, info) in array(claim, "supportingInfo").iter().enumerate() {
        if let Some(r) = info.get("valueReference") {
            push(format!("{at}.supportingInfo[{i}].valueReference"), r, &[]);
        }
    }
    for (i, diagnosis) in array(claim, "diagnosis").iter().enumerate() {
        if let Some(r) = diagnosis.get("diagnosisReference") {
            push(
                format!("{at}.diagnosis[{i}].diagnosisReference"),
                r,
                &["Condition"],
            );
        }
    }
    rules
}

fn array<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn check_reference(view: &BundleView<'_>, claim: &Value, rule: &RefRule, issues: &mut Vec<Issue>) {
    let Some(object) = rule.reference.as_object() else {
        issues.push(
            Issue::error(IssueType::Structure, "reference is not a JSON object").at(&rule.path),
        );
        return;
    };
    // A reference by identifier or display only is allowed: nothing to resolve.
    let Some(reference) = object.get("reference") else {
        return;
    };
    let Some(reference) = reference.as_str() else {
        issues.push(
            Issue::error(IssueType::Structure, "`reference` is not a string")
                .at(format!("{}.reference", rule.path)),
        );
        return;
    };
    let found_type = if let Some(id) = reference.strip_prefix('#') {
        array(claim, "contained")
            .iter()
            .find(|c| c.get("id").and_then(Value::as_str) == Some(id))
            .and_then(|c| c.get("resourceType").and_then(Value::as_str))
    } else {
        view.resolve(reference, Some(0)).map(|e| e.resource_type)
    };
    match found_type {
        None => issues.push(
            Issue::error(
                IssueType::Invariant,
                format!("reference `{reference}` does not resolve inside the Bundle"),
            )
            .at(&rule.path),
        ),
        Some(found) if !rule.types.is_empty() && !rule.types.contains(&found) => issues.push(
            Issue::error(
                IssueType::Value,
                format!(
                    "reference `{reference}` names a `{found}`; expected {}",
                    rule.types
                        .iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            )
            .at(&rule.path),
        ),
        Some(_) => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "resourceType": "Bundle",
            "identifier": {"system": "urn:test", "value": "b1"},
            "type": "collection",
            "timestamp": "2026-11-20T10:00:00Z",
            "entry": [
                {"fullUrl": "http://x.org/fhir/Claim/c1", "resource": {
                    "resourceType": "Claim", "id": "c1", "use": "preauthorization",
                    "type": {"coding": [{"code": "professional"}]},
                    "patient": {"reference": "Patient/p1"},
                    "insurer": {"reference": "Organization/ins"},
                    "provider": {"reference": "Organization/prov"},
                    "insurance": [{"sequence": 1, "focal": true, "coverage": {"reference": "Coverage/cov"}}],
                    "item": [{"sequence": 1}]
                }},
                {"fullUrl": "http://x.org/fhir/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1"}},
                {"fullUrl": "http://x.org/fhir/Organization/ins", "resource": {"resourceType": "Organization", "id": "ins"}},
                {"fullUrl": "http://x.org/fhir/Organization/prov", "resource": {"resourceType": "Organization", "id": "prov"}},
                {"fullUrl": "http://x.org/fhir/Coverage/cov", "resource": {"resourceType": "Coverage", "id": "cov"}}
            ]
        })
    }

    fn first_issue(value: Value) -> (u16, &'static str, Option<String>) {
        let rejection = check(value, &Limits::default()).err().unwrap_or_else(|| {
            Rejection::new(0, vec![Issue::error(IssueType::Exception, "accepted")])
        });
        let issue = &rejection.issues[0];
        (
            rejection.status,
            issue.code.as_str(),
            issue.expression.clone(),
        )
    }

    #[test]
    fn minimal_request_passes() {
        let checked = check(minimal(), &Limits::default());
        assert!(checked.is_ok(), "{checked:?}");
        let checked = checked.unwrap();
        assert_eq!(checked.item_sequences(), vec![1]);
        assert_eq!(checked.claim_full_url(), "http://x.org/fhir/Claim/c1");
    }

    #[test]
    fn not_json_is_a_structure_error() {
        let rejection = check_bytes(b"{not json", &Limits::default()).err();
        assert_eq!(
            rejection.map(|r| (r.status, r.issues[0].code)),
            Some((400, IssueType::Structure))
        );
    }

    #[test]
    fn body_over_the_limit_is_413() {
        let limits = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        let rejection = check_bytes(&[b' '; 11], &limits).err();
        assert_eq!(rejection.map(|r| r.status), Some(413));
    }

    #[test]
    fn nesting_is_limited_and_located() {
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        let mut bundle = minimal();
        bundle["meta"] = json!({"tag": [{"code": "x"}]});
        let rejection = check(bundle, &limits).err();
        let issue = rejection.map(|r| (r.status, r.issues[0].code, r.issues[0].expression.clone()));
        assert_eq!(issue.as_ref().map(|i| i.0), Some(400));
        assert_eq!(issue.as_ref().map(|i| i.1), Some(IssueType::TooLong));
        // Bundle (1) > entry (2) > [0] (3) > resource (4): the first path past 3 levels.
        assert!(
            issue
                .and_then(|i| i.2)
                .is_some_and(|p| p.starts_with("Bundle."))
        );
    }

    #[test]
    fn the_depth_path_names_every_key_and_index_to_the_first_node_past_the_limit() {
        let value = json!({"a": 1, "b": [{"c": 2}, {"d": {"e": [true]}}]});
        // Bundle (1) > b (2) > [1] (3) > d (4): past 3 levels.
        assert_eq!(
            too_deep(&value, "Bundle", 3).as_deref(),
            Some("Bundle.b[1].d")
        );
        assert_eq!(
            too_deep(&value, "Bundle", 4).as_deref(),
            Some("Bundle.b[1].d.e")
        );
        assert_eq!(too_deep(&value, "Bundle", 5), None);
    }

    #[test]
    fn entry_count_is_limited_and_located() {
        let limits = Limits {
            max_entries: 4,
            ..Limits::default()
        };
        // Five entries: one over.
        let rejection = check(minimal(), &limits).err();
        let issue = rejection.map(|r| (r.status, r.issues[0].code, r.issues[0].expression.clone()));
        assert_eq!(
            issue,
            Some((413, IssueType::TooLong, Some("Bundle.entry".to_owned())))
        );
        let limits = Limits {
            max_entries: 5,
            ..Limits::default()
        };
        assert!(check(minimal(), &limits).is_ok());
        // The same limit holds for a Bundle inside a Parameters wrapper.
        let limits = Limits {
            max_entries: 4,
            ..Limits::default()
        };
        let wrapped = json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": minimal()}]});
        assert_eq!(check(wrapped, &limits).err().map(|r| r.status), Some(413));
    }

    #[test]
    fn serde_recursion_limit_is_reported_as_too_deep() {
        let body = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let rejection = check_bytes(body.as_bytes(), &Limits::default()).err();
        assert_eq!(
            rejection.map(|r| r.issues[0].code),
            Some(IssueType::TooLong)
        );
    }

    #[test]
    fn wrong_root_type_is_named() {
        let (status, code, expr) = first_issue(json!({"resourceType": "Patient"}));
        assert_eq!(
            (status, code, expr.as_deref()),
            (400, "value", Some("Patient"))
        );
    }

    #[test]
    fn parameters_wrapper_is_unwrapped() {
        let wrapped = json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": minimal()}]});
        assert!(check(wrapped, &Limits::default()).is_ok());
        let (_, code, expr) = first_issue(json!({"resourceType": "Parameters", "parameter": []}));
        assert_eq!(
            (code, expr.as_deref()),
            ("required", Some("Parameters.parameter"))
        );
    }

    #[test]
    fn bundle_level_problems_are_located() {
        let mut b = minimal();
        b["type"] = json!("transaction");
        assert_eq!(first_issue(b).2.as_deref(), Some("Bundle.type"));
        let mut b = minimal();
        b.as_object_mut().unwrap().remove("identifier");
        assert_eq!(first_issue(b).1, "required");
        let mut b = minimal();
        b["timestamp"] = json!("yesterday");
        assert_eq!(first_issue(b).2.as_deref(), Some("Bundle.timestamp"));
    }

    #[test]
    fn entry_problems_are_located() {
        let mut b = minimal();
        b["entry"][2].as_object_mut().unwrap().remove("fullUrl");
        assert_eq!(first_issue(b).2.as_deref(), Some("Bundle.entry[2].fullUrl"));
        let mut b = minimal();
        b["entry"][3]["fullUrl"] = json!("http://x.org/fhir/Patient/p1");
        let (_, code, expr) = first_issue(b);
        assert_eq!(
            (code, expr.as_deref()),
            ("duplicate", Some("Bundle.entry[3].fullUrl"))
        );
    }

    #[test]
    fn claim_problems_are_located() {
        let mut b = minimal();
        b["entry"].as_array_mut().unwrap().swap(0, 1);
        assert_eq!(
            first_issue(b).2.as_deref(),
            Some("Bundle.entry[0].resource")
        );
        let mut b = minimal();
        b["entry"][0]["resource"]["use"] = json!("claim");
        assert_eq!(
            first_issue(b).2.as_deref(),
            Some("Bundle.entry[0].resource.use")
        );
        let mut b = minimal();
        b["entry"][0]["resource"]["item"] = json!([{"sequence": 1}, {"sequence": 1}]);
        let (_, code, expr) = first_issue(b);
        assert_eq!(
            (code, expr.as_deref()),
            (
                "duplicate",
                Some("Bundle.entry[0].resource.item[1].sequence")
            )
        );
    }

    #[test]
    fn unresolved_and_mistyped_references_are_located() {
        let mut b = minimal();
        b["entry"][0]["resource"]["patient"] = json!({"reference": "Patient/nope"});
        let (_, code, expr) = first_issue(b);
        assert_eq!(
            (code, expr.as_deref()),
            ("invariant", Some("Bundle.entry[0].resource.patient"))
        );
        let mut b = minimal();
        b["entry"][0]["resource"]["insurance"][0]["coverage"] = json!({"reference": "Patient/p1"});
        let (_, code, expr) = first_issue(b);
        assert_eq!(
            (code, expr.as_deref()),
            (
                "value",
                Some("Bundle.entry[0].resource.insurance[0].coverage")
            )
        );
    }

    #[test]
    fn references_by_identifier_only_are_accepted() {
        let mut b = minimal();
        b["entry"][0]["resource"]["provider"] = json!({"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}});
        assert!(check(b, &Limits::default()).is_ok());
    }

    #[test]
    fn missing_optional_elements_are_not_errors() {
        let mut b = minimal();
        let claim = &mut b["entry"][0]["resource"];
        let claim = claim.as_object_mut().unwrap();
        claim.remove("provider");
        claim.remove("insurance");
        assert!(check(b, &Limits::default()).is_ok());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod properties {
    //! The checks never panic and always answer: any input is accepted or rejected with a 4xx
    //! and at least one located-or-explained issue.

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn arb_json() -> impl Strategy<Value = Value> {
        crate::fhir::arbitrary::json_tree(
            &[
                "resourceType",
                "entry",
                "resource",
                "fullUrl",
                "reference",
                "item",
                "sequence",
            ],
            6,
        )
    }

    fn valid() -> Value {
        json!({
            "resourceType": "Bundle",
            "identifier": {"system": "urn:test", "value": "b1"},
            "type": "collection",
            "timestamp": "2026-11-20T10:00:00Z",
            "entry": [
                {"fullUrl": "urn:uuid:c1", "resource": {
                    "resourceType": "Claim", "use": "preauthorization",
                    "type": {"coding": [{"code": "professional"}]},
                    "patient": {"reference": "urn:uuid:p1"},
                    "insurer": {"reference": "urn:uuid:o1"},
                    "item": [{"sequence": 1}]
                }},
                {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient"}},
                {"fullUrl": "urn:uuid:o1", "resource": {"resourceType": "Organization"}}
            ]
        })
    }

    fn assert_answered(result: Result<CheckedRequest, Rejection>) {
        if let Err(rejection) = result {
            assert!((400..500).contains(&rejection.status), "{rejection:?}");
            assert!(!rejection.issues.is_empty());
            assert!(rejection.issues.iter().all(|i| !i.diagnostics.is_empty()));
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            assert_answered(check_bytes(&bytes, &Limits::default()));
        }

        #[test]
        fn arbitrary_json_never_panics(value in arb_json()) {
            assert_answered(check(value, &Limits::default()));
        }

        /// Replacing any one element of a valid request by arbitrary JSON is either still
        /// acceptable or rejected with located issues.
        #[test]
        fn one_element_replaced_is_answered(
            entry in 0usize..3,
            key in prop_oneof![
                Just("resourceType"), Just("fullUrl"), Just("resource"), Just("patient"),
                Just("insurer"), Just("item"), Just("use"), Just("type"),
            ],
            replacement in arb_json(),
        ) {
            let mut bundle = valid();
            let target = &mut bundle["entry"][entry];
            if target.get(key).is_some() {
                target[key] = replacement.clone();
            } else {
                target["resource"][key] = replacement;
            }
            assert_answered(check(bundle, &Limits::default()));
        }
    }
}
