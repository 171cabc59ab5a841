//! PAS Subscriptions (workflow.md section 3; R4 Subscriptions Backport 1.1.0 as PAS 2.2.1
//! profiles them): what a Subscription may ask for, which requests it matches, and the
//! notification Bundles sent to it. Delivery is [`deliver`]; the outbox rows are written by
//! the store in the transaction of the answer that causes them.

pub mod deliver;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::fhir::{BundleView, Issue, IssueType};

/// The PAS topic, the only `criteria` accepted.
pub const TOPIC: &str = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic";
pub const FILTER_CRITERIA: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria";
pub const PAYLOAD_CONTENT: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content";
pub const STATUS_PROFILE: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4";
pub const TOPIC_CANONICAL: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical";
const TRANSMISSION_IDENTIFIERS: &str =
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-TransmissionIdentifiers";
const FHIR_JSON: &str = "application/fhir+json";

/// What a valid Subscription asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSpec {
    /// The rest-hook endpoint (`http` or `https`).
    pub endpoint: String,
    /// `Name: value` lines sent with every POST.
    pub headers: Vec<String>,
    /// Organization identifier values; a request matches when any equals one of its own.
    pub filters: Vec<String>,
    /// After this instant nothing more is sent.
    pub end: Option<DateTime<Utc>>,
}

fn issue(code: IssueType, message: impl Into<String>, at: &str) -> Issue {
    Issue::error(code, message).at(format!("Subscription.{at}"))
}

/// Checks a Subscription resource against what this server supports; the issues name the
/// element at fault.
pub fn parse_subscription(resource: &Value) -> Result<SubscriptionSpec, Vec<Issue>> {
    let mut issues = Vec::new();
    if resource.get("resourceType").and_then(Value::as_str) != Some("Subscription") {
        return Err(vec![
            Issue::error(IssueType::Structure, "the body is not a Subscription").at("resourceType"),
        ]);
    }
    if resource.get("criteria").and_then(Value::as_str) != Some(TOPIC) {
        issues.push(issue(
            IssueType::Value,
            format!("`criteria` must be the PAS topic `{TOPIC}`"),
            "criteria",
        ));
    }
    let mut filters = Vec::new();
    let extensions = resource
        .pointer("/_criteria/extension")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, extension) in extensions.iter().enumerate() {
        if extension.get("url").and_then(Value::as_str) != Some(FILTER_CRITERIA) {
            continue;
        }
        let text = extension
            .get("valueString")
            .and_then(Value::as_str)
            .unwrap_or("");
        let value = text
            .strip_prefix("org-identifier=")
            .or_else(|| text.strip_prefix("orgIdentifier="));
        match value {
            Some(list) => filters.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned),
            ),
            None => issues.push(issue(
                IssueType::NotSupported,
                format!(
                    "filter `{text}` is not supported: use `org-identifier=V` or \
                     `orgIdentifier=V` (V may be a comma-separated list)"
                ),
                &format!("_criteria.extension[{i}].valueString"),
            )),
        }
    }
    if filters.is_empty() && issues.is_empty() {
        // Without a filter a subscriber would be told of every provider's requests.
        issues.push(issue(
            IssueType::Required,
            "a `backport-filter-criteria` `org-identifier=V` naming the subscriber's \
             organization is required",
            "_criteria.extension",
        ));
    }
    let channel = resource.get("channel").cloned().unwrap_or(Value::Null);
    let channel_type = channel.pointer("/type").and_then(Value::as_str);
    if channel_type != Some("rest-hook") {
        issues.push(issue(
            IssueType::NotSupported,
            format!(
                "channel type `{}` is not supported: `rest-hook` only",
                channel_type.unwrap_or("none")
            ),
            "channel.type",
        ));
    }
    let endpoint = channel
        .get("endpoint")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match reqwest::Url::parse(&endpoint) {
        Ok(url) if (url.scheme() == "http" || url.scheme() == "https") && url.host().is_some() => {}
        _ => issues.push(issue(
            IssueType::Value,
            format!("`{endpoint}` is not an http or https URL"),
            "channel.endpoint",
        )),
    }
    if channel.get("payload").and_then(Value::as_str) != Some(FHIR_JSON) {
        issues.push(issue(
            IssueType::NotSupported,
            "payload must be `application/fhir+json`",
            "channel.payload",
        ));
    }
    let content = channel
        .pointer("/_payload/extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(PAYLOAD_CONTENT))
        .and_then(|e| e.get("valueCode"))
        .and_then(Value::as_str);
    if content != Some("full-resource") {
        issues.push(issue(
            IssueType::NotSupported,
            format!(
                "payload content `{}` is not supported: `full-resource` only",
                content.unwrap_or("none")
            ),
            "channel._payload.extension",
        ));
    }
    let mut headers = Vec::new();
    for (i, header) in channel
        .get("header")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match header.as_str().and_then(|h| h.split_once(':')) {
            Some((name, value))
                if reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).is_ok()
                    && reqwest::header::HeaderValue::from_str(value.trim()).is_ok() =>
            {
                headers.push(format!("{}: {}", name.trim(), value.trim()));
            }
            _ => issues.push(issue(
                IssueType::Value,
                "a header must be a `Name: value` line",
                &format!("channel.header[{i}]"),
            )),
        }
    }
    let end = match resource.get("end") {
        None => None,
        Some(end) => match end
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            Some(t) => Some(t.with_timezone(&Utc)),
            None => {
                issues.push(issue(IssueType::Value, "`end` is not an instant", "end"));
                None
            }
        },
    };
    if issues.is_empty() {
        Ok(SubscriptionSpec {
            endpoint,
            headers,
            filters,
            end,
        })
    } else {
        Err(issues)
    }
}

/// The identifier values a request is matched on: those of the organization the Claim names
/// as `provider`, and the sender ids of the Claim's `extension-TransmissionIdentifiers`.
pub fn request_org_identifiers(bundle: &Value) -> Vec<String> {
    let view = BundleView::new(bundle);
    let Some(claim) = view.entries().iter().find(|e| e.resource_type == "Claim") else {
        return Vec::new();
    };
    let mut values = Vec::new();
    if let Some(reference) = claim
        .resource
        .pointer("/provider/reference")
        .and_then(Value::as_str)
        && let Some(provider) = view.resolve(reference, Some(claim.index))
        && provider.resource_type == "Organization"
    {
        values.extend(
            provider
                .resource
                .get("identifier")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| i.get("value").and_then(Value::as_str))
                .map(str::to_owned),
        );
    }
    for extension in claim
        .resource
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("url").and_then(Value::as_str) == Some(TRANSMISSION_IDENTIFIERS))
    {
        values.extend(
            extension
                .get("extension")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|e| {
                    matches!(
                        e.get("url").and_then(Value::as_str),
                        Some("applicationSenderCode" | "interchangeSenderID")
                    )
                })
                .filter_map(|e| e.get("valueString").and_then(Value::as_str))
                .map(str::to_owned),
        );
    }
    values
}

/// Whether a subscription's filters match a request's identifiers.
pub fn matches(filters: &[String], identifiers: &[String]) -> bool {
    filters.iter().any(|f| identifiers.contains(f))
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What a notification Bundle announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationType {
    Handshake,
    Heartbeat,
    EventNotification,
    QueryStatus,
}

impl NotificationType {
    fn code(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::Heartbeat => "heartbeat",
            Self::EventNotification => "event-notification",
            Self::QueryStatus => "query-status",
        }
    }
}

/// The backport `SubscriptionStatus` Parameters.
pub fn status_parameters(
    subscription_id: &str,
    status: &str,
    kind: NotificationType,
    events_since_start: i64,
    error: Option<&str>,
) -> Value {
    let mut parameters = vec![
        json!({"name": "subscription", "valueReference": {"reference": format!("Subscription/{subscription_id}")}}),
        json!({"name": "topic", "valueCanonical": TOPIC}),
        json!({"name": "status", "valueCode": status}),
        json!({"name": "type", "valueCode": kind.code()}),
        json!({"name": "events-since-subscription-start", "valueString": events_since_start.to_string()}),
    ];
    if let Some(error) = error {
        parameters.push(json!({"name": "error", "valueCodeableConcept": {"text": error}}));
    }
    json!({
        "resourceType": "Parameters",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameters,
    })
}

/// A notification Bundle (`history`): the status Parameters first, then, for an event, the
/// full PAS response Bundle it is about, which the event's `focus` references.
pub fn notification(
    subscription_id: &str,
    kind: NotificationType,
    event: Option<(i64, DateTime<Utc>, &Value)>,
    events_since_start: i64,
) -> Value {
    let mut status = status_parameters(subscription_id, "active", kind, events_since_start, None);
    let mut entries = Vec::new();
    let mut focus_entry = None;
    if let Some((number, timestamp, response)) = event {
        let focus = format!(
            "urn:uuid:{}",
            response
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
        );
        if let Some(parameters) = status.get_mut("parameter").and_then(Value::as_array_mut) {
            parameters.push(json!({"name": "notification-event", "part": [
                {"name": "event-number", "valueString": number.to_string()},
                {"name": "timestamp", "valueInstant": instant(timestamp)},
                {"name": "focus", "valueReference": {"reference": focus}},
            ]}));
        }
        focus_entry = Some(json!({
            "fullUrl": focus,
            "resource": response,
            "request": {"method": "GET", "url": format!("Bundle/{}", response.get("id").and_then(Value::as_str).unwrap_or_default())},
            "response": {"status": "200"},
        }));
    }
    let status_id = status
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    entries.push(json!({
        "fullUrl": format!("urn:uuid:{status_id}"),
        "resource": status,
        "request": {"method": "GET", "url": format!("Subscription/{subscription_id}/$status")},
        "response": {"status": "200"},
    }));
    entries.extend(focus_entry);
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "history",
        "timestamp": instant(Utc::now()),
        "entry": entries,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn example() -> Value {
        json!({"resourceType": "Subscription", "status": "requested",
            "reason": "notifications for my organization",
            "criteria": TOPIC,
            "_criteria": {"extension": [{"url": FILTER_CRITERIA, "valueString": "orgIdentifier=1234567893,999"}]},
            "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook",
                "payload": "application/fhir+json",
                "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "full-resource"}]},
                "header": ["Authorization: Bearer abc"]}})
    }

    #[test]
    fn the_ig_shape_is_accepted_with_both_filter_spellings() {
        let spec = parse_subscription(&example()).unwrap();
        assert_eq!(spec.filters, ["1234567893", "999"]);
        assert_eq!(spec.headers, ["Authorization: Bearer abc"]);
        let mut other = example();
        other["_criteria"]["extension"][0]["valueString"] = json!("org-identifier=42");
        assert_eq!(parse_subscription(&other).unwrap().filters, ["42"]);
    }

    #[test]
    fn unsupported_elements_are_named() {
        let refused = |path: &str, value: Value| {
            let mut s = example();
            *s.pointer_mut(path).unwrap() = value;
            let issues = parse_subscription(&s).unwrap_err();
            issues[0].expression.clone().unwrap_or_default()
        };
        assert_eq!(
            refused("/criteria", json!("Claim?status=active")),
            "Subscription.criteria"
        );
        assert_eq!(
            refused("/channel/type", json!("websocket")),
            "Subscription.channel.type"
        );
        assert_eq!(
            refused("/channel/endpoint", json!("ftp://x/y")),
            "Subscription.channel.endpoint"
        );
        assert_eq!(
            refused("/channel/_payload/extension/0/valueCode", json!("id-only")),
            "Subscription.channel._payload.extension"
        );
        assert_eq!(
            refused("/_criteria/extension/0/valueString", json!("patient=1")),
            "Subscription._criteria.extension[0].valueString"
        );
        assert_eq!(
            refused("/channel/header/0", json!("no colon")),
            "Subscription.channel.header[0]"
        );
    }

    #[test]
    fn requests_match_on_provider_identifiers_and_sender_ids() {
        let bundle = json!({"resourceType": "Bundle", "entry": [
            {"fullUrl": "urn:uuid:c", "resource": {"resourceType": "Claim",
                "provider": {"reference": "urn:uuid:o"},
                "extension": [{"url": TRANSMISSION_IDENTIFIERS, "extension": [
                    {"url": "applicationSenderCode", "valueString": "SENDER-1"},
                    {"url": "applicationReceiverCode", "valueString": "RECEIVER-1"}]}]}},
            {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Organization",
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1992999999"}]}}
        ]});
        let ids = request_org_identifiers(&bundle);
        assert_eq!(ids, ["1992999999", "SENDER-1"]);
        assert!(matches(&["1992999999".into()], &ids));
        assert!(matches(&["x".into(), "SENDER-1".into()], &ids));
        assert!(!matches(&["RECEIVER-1".into()], &ids));
    }

    #[test]
    fn an_event_notification_focuses_the_response_bundle() {
        let response = json!({"resourceType": "Bundle", "id": "r1", "type": "collection"});
        let at = Utc::now();
        let bundle = notification(
            "s1",
            NotificationType::EventNotification,
            Some((3, at, &response)),
            3,
        );
        assert_eq!(bundle["type"], "history");
        let parameters = &bundle["entry"][0]["resource"]["parameter"];
        assert_eq!(parameters[3]["valueCode"], "event-notification");
        assert_eq!(parameters[4]["valueString"], "3");
        assert_eq!(parameters[5]["part"][0]["valueString"], "3");
        assert_eq!(
            parameters[5]["part"][2]["valueReference"]["reference"],
            "urn:uuid:r1"
        );
        assert_eq!(bundle["entry"][1]["fullUrl"], "urn:uuid:r1");
        assert_eq!(bundle["entry"][1]["resource"], response);
    }
}
