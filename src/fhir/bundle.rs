//! A read-only index over a raw Bundle: entries by position, by fullUrl and by type/id, and
//! reference resolution inside the Bundle.
//!
//! The raw `serde_json::Value` stays the source of truth (it is what we store and echo, and
//! the only form that can name a FHIRPath location); this view only borrows it.

use std::collections::HashMap;

use serde_json::Value;

/// One entry of the Bundle, borrowed from the raw JSON.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Position in `Bundle.entry`, for FHIRPath locations.
    pub index: usize,
    pub full_url: Option<&'a str>,
    pub resource_type: &'a str,
    pub id: Option<&'a str>,
    pub resource: &'a Value,
}

impl Entry<'_> {
    /// The FHIRPath location of this entry's resource, e.g. `Bundle.entry[2].resource`.
    pub fn path(&self) -> String {
        format!("Bundle.entry[{}].resource", self.index)
    }

    /// `Type/id` when the resource has an id, else its fullUrl; used to name evidence.
    pub fn label(&self) -> String {
        match (self.id, self.full_url) {
            (Some(id), _) => format!("{}/{}", self.resource_type, id),
            (None, Some(url)) => url.to_owned(),
            (None, None) => format!("{}#{}", self.resource_type, self.index),
        }
    }
}

/// The entries of a Bundle with lookups by fullUrl and by `Type/id`.
#[derive(Debug)]
pub struct BundleView<'a> {
    entries: Vec<Entry<'a>>,
    by_full_url: HashMap<&'a str, usize>,
    by_type_id: HashMap<(&'a str, &'a str), usize>,
}

impl<'a> BundleView<'a> {
    /// Indexes `bundle.entry`; entries without a resource object are skipped (the request
    /// checks report them).
    pub fn new(bundle: &'a Value) -> Self {
        let mut entries = Vec::new();
        let mut by_full_url = HashMap::new();
        let mut by_type_id = HashMap::new();
        let raw_entries = bundle.get("entry").and_then(Value::as_array);
        for (index, entry) in raw_entries.into_iter().flatten().enumerate() {
            let Some(resource) = entry.get("resource").filter(|r| r.is_object()) else {
                continue;
            };
            let Some(resource_type) = resource.get("resourceType").and_then(Value::as_str) else {
                continue;
            };
            let full_url = entry.get("fullUrl").and_then(Value::as_str);
            let id = resource.get("id").and_then(Value::as_str);
            let pos = entries.len();
            if let Some(url) = full_url {
                by_full_url.entry(url).or_insert(pos);
            }
            if let Some(id) = id {
                by_type_id.entry((resource_type, id)).or_insert(pos);
            }
            entries.push(Entry {
                index,
                full_url,
                resource_type,
                id,
                resource,
            });
        }
        Self {
            entries,
            by_full_url,
            by_type_id,
        }
    }

    pub fn entries(&self) -> &[Entry<'a>] {
        &self.entries
    }

    /// Entries whose resource is of the given type, in Bundle order.
    pub fn of_type<'s>(
        &'s self,
        resource_type: &'s str,
    ) -> impl Iterator<Item = &'s Entry<'a>> + 's {
        self.entries
            .iter()
            .filter(move |e| e.resource_type == resource_type)
    }

    /// The entry at `Bundle.entry[index]`, if it holds a resource.
    pub fn at(&self, index: usize) -> Option<&Entry<'a>> {
        self.entries.iter().find(|e| e.index == index)
    }

    /// Resolves a `Reference.reference` made by the resource in entry `from` (FHIR R4 Bundle
    /// resolution rules): an absolute URL or URN matches a fullUrl; a relative `Type/id` is
    /// first made absolute against the referring entry's RESTful base, then matched on the
    /// resource's type and id. Contained references (`#id`) are not Bundle entries: `None`.
    pub fn resolve(&self, reference: &str, from: Option<usize>) -> Option<&Entry<'a>> {
        let reference = reference.trim();
        if reference.is_empty() || reference.starts_with('#') {
            return None;
        }
        if let Some(&pos) = self.by_full_url.get(reference) {
            return self.entries.get(pos);
        }
        if is_absolute(reference) {
            return None;
        }
        // Drop a version suffix: `Patient/1/_history/2` names `Patient/1`.
        let relative = reference.split("/_history/").next().unwrap_or(reference);
        if let Some(base) = from
            .and_then(|i| self.at(i))
            .and_then(|e| e.full_url)
            .and_then(|url| restful_base(url))
        {
            let absolute = format!("{base}{relative}");
            if let Some(&pos) = self.by_full_url.get(absolute.as_str()) {
                return self.entries.get(pos);
            }
        }
        let (rtype, id) = relative.split_once('/')?;
        self.by_type_id
            .get(&(rtype, id))
            .and_then(|&pos| self.entries.get(pos))
    }
}

fn is_absolute(reference: &str) -> bool {
    reference.starts_with("urn:") || reference.contains("://")
}

/// `http://x/fhir/Claim/1` -> `http://x/fhir/`.
fn restful_base(full_url: &str) -> Option<&str> {
    if full_url.starts_with("urn:") {
        return None;
    }
    let without_id = full_url.rsplit_once('/')?.0;
    let base = without_id.rsplit_once('/')?.0;
    Some(&full_url[..base.len() + 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bundle() -> Value {
        json!({"resourceType": "Bundle", "entry": [
            {"fullUrl": "http://example.org/fhir/Claim/c1", "resource": {"resourceType": "Claim", "id": "c1"}},
            {"fullUrl": "http://example.org/fhir/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1"}},
            {"fullUrl": "urn:uuid:0b7c9c2a-6d0e-4a7e-9d1b-0e9f3c1a2b3c", "resource": {"resourceType": "Observation"}},
            {"fullUrl": "http://other.org/Coverage/cov", "resource": {"resourceType": "Coverage", "id": "cov"}}
        ]})
    }

    #[test]
    fn resolves_relative_against_the_referring_base() {
        let raw = bundle();
        let view = BundleView::new(&raw);
        let hit = view.resolve("Patient/p1", Some(0)).map(|e| e.index);
        assert_eq!(hit, Some(1));
    }

    #[test]
    fn resolves_absolute_and_urn() {
        let raw = bundle();
        let view = BundleView::new(&raw);
        assert_eq!(
            view.resolve("http://example.org/fhir/Patient/p1", None)
                .map(|e| e.index),
            Some(1)
        );
        let urn = "urn:uuid:0b7c9c2a-6d0e-4a7e-9d1b-0e9f3c1a2b3c";
        assert_eq!(view.resolve(urn, Some(0)).map(|e| e.index), Some(2));
    }

    #[test]
    fn relative_falls_back_to_type_and_id_on_another_base() {
        let raw = bundle();
        let view = BundleView::new(&raw);
        assert_eq!(
            view.resolve("Coverage/cov", Some(0)).map(|e| e.index),
            Some(3)
        );
    }

    #[test]
    fn unresolvable_and_contained_references_are_none() {
        let raw = bundle();
        let view = BundleView::new(&raw);
        assert!(view.resolve("Patient/nope", Some(0)).is_none());
        assert!(view.resolve("#contained", Some(0)).is_none());
        assert!(
            view.resolve("http://elsewhere.org/Patient/p1", Some(0))
                .is_none()
        );
    }
}
