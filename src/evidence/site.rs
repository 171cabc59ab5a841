//! Where a resource sits in the request: a Bundle entry, or a resource contained in one.
//!
//! Every fact cites its resource and FHIRPath ([`Source`]), and references are resolved from
//! the referring resource (relative references against its entry's base, `#id` against its
//! container's `contained`), so both need to know where the resource sits.

use serde_json::Value;

use crate::fhir::{BundleView, Entry};

use super::Source;

/// A resource together with its location.
#[derive(Debug, Clone)]
pub(super) struct Site<'a> {
    /// The Bundle entry that holds the resource (itself, or its container).
    pub entry: Entry<'a>,
    /// The resource's raw JSON.
    pub resource: &'a Value,
    /// `resourceType` of the resource.
    pub resource_type: &'a str,
    /// FHIRPath of the resource, e.g. `Bundle.entry[0].resource.contained[1]`.
    pub path: String,
    /// `Type/id`, fullUrl, or `Container#id` for a contained resource.
    pub label: String,
}

impl<'a> Site<'a> {
    /// A resource that is itself a Bundle entry.
    pub fn of(entry: &Entry<'a>) -> Self {
        Self {
            entry: *entry,
            resource: entry.resource,
            resource_type: entry.resource_type,
            path: entry.path(),
            label: entry.label(),
        }
    }

    /// A fact found at `suffix` (e.g. `.item[1]`, or `""` for the resource itself).
    pub fn source(&self, suffix: &str) -> Source {
        Source {
            resource: self.label.clone(),
            path: format!("{}{suffix}", self.path),
        }
    }

    /// Resolves a reference made by this resource: `#id` among its container's contained
    /// resources, anything else through the Bundle (FHIR Bundle resolution rules).
    pub fn resolve(&self, view: &BundleView<'a>, reference: &str) -> Option<Site<'a>> {
        let reference = reference.trim();
        match reference.strip_prefix('#') {
            Some(id) => self.contained(id),
            None => view
                .resolve(reference, Some(self.entry.index))
                .map(Site::of),
        }
    }

    fn contained(&self, id: &str) -> Option<Site<'a>> {
        let contained = self.entry.resource.get("contained")?.as_array()?;
        let (k, resource) = contained
            .iter()
            .enumerate()
            .find(|(_, r)| r.get("id").and_then(Value::as_str) == Some(id))?;
        let resource_type = resource.get("resourceType").and_then(Value::as_str)?;
        Some(Site {
            entry: self.entry,
            resource,
            resource_type,
            path: format!("{}.contained[{k}]", self.entry.path()),
            label: format!("{}#{id}", self.entry.label()),
        })
    }
}
