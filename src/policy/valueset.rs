//! Compiled value sets: membership of normalized codes, free text and drug names.

use std::collections::HashSet;

use crate::evidence::ObsValue;
use crate::fhir::codes::{Code, CodeSystem, normalize_icd10};

/// A value set ready for matching. Built once at load; matching never allocates.
#[derive(Debug, Clone, Default)]
pub struct ValueSet {
    pub name: String,
    pub description: String,
    codes: HashSet<Code>,
    /// ICD-10-CM inclusive ranges (normalized), compared in code order.
    ranges: Vec<(CodeSystem, String, String)>,
    prefixes: Vec<(CodeSystem, String)>,
    /// Lower-case free-text spellings.
    text: Vec<String>,
    /// Lower-case drug names.
    names: Vec<String>,
}

impl ValueSet {
    pub fn new(name: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            ..Self::default()
        }
    }

    pub fn add_code(&mut self, code: Code) {
        self.codes.insert(code);
    }

    pub fn add_range(&mut self, system: CodeSystem, low: &str, high: &str) {
        let (low, high) = match system {
            CodeSystem::Icd10Cm => (normalize_icd10(low), normalize_icd10(high)),
            _ => (low.to_owned(), high.to_owned()),
        };
        self.ranges.push((system, low, high));
    }

    pub fn add_prefix(&mut self, system: CodeSystem, prefix: &str) {
        let prefix = match system {
            CodeSystem::Icd10Cm => normalize_icd10(prefix),
            _ => prefix.to_owned(),
        };
        self.prefixes.push((system, prefix));
    }

    pub fn add_text(&mut self, text: &str) {
        self.text.push(text.trim().to_lowercase());
    }

    pub fn add_name(&mut self, name: &str) {
        self.names.push(name.trim().to_lowercase());
    }

    /// Adds every member of `other`.
    /// The exact codes of the set (review: the plan report lists the codes that need prior
    /// authorization).
    pub fn codes(&self) -> impl Iterator<Item = &Code> {
        self.codes.iter()
    }

    pub fn extend(&mut self, other: &ValueSet) {
        self.codes.extend(other.codes.iter().cloned());
        self.ranges.extend(other.ranges.iter().cloned());
        self.prefixes.extend(other.prefixes.iter().cloned());
        self.text.extend(other.text.iter().cloned());
        self.names.extend(other.names.iter().cloned());
    }

    /// Whether a code is a member: exact codes, ICD ranges (with their header codes), or
    /// prefixes.
    pub fn contains(&self, code: &Code) -> bool {
        self.codes.contains(code)
            || self.ranges.iter().any(|(system, low, high)| {
                *system == code.system && in_range(&code.code, low, high)
            })
            || self.prefixes.iter().any(|(system, prefix)| {
                *system == code.system && code.code.starts_with(prefix.as_str())
            })
    }

    pub fn contains_any<'a>(&self, codes: impl IntoIterator<Item = &'a Code>) -> bool {
        codes.into_iter().any(|c| self.contains(c))
    }

    /// Whether free text (a `valueString`, a CodeableConcept's text) is one of the set's
    /// spellings, compared trimmed and case-insensitively.
    pub fn matches_text(&self, text: &str) -> bool {
        let text = text.trim().to_lowercase();
        !text.is_empty() && self.text.contains(&text)
    }

    /// Whether a coded or textual observation value is in the set.
    pub fn matches_value(&self, value: &ObsValue) -> bool {
        match value {
            // A coding from a system the set does not list (a local or AJCC `cM1`) still
            // matches by its code's spelling.
            ObsValue::Coded { codes, text } => {
                self.contains_any(codes)
                    || codes.iter().any(|c| self.matches_text(&c.code))
                    || text.as_deref().is_some_and(|t| self.matches_text(t))
            }
            ObsValue::Text(text) => self.matches_text(text),
            ObsValue::Quantity { .. } | ObsValue::Boolean(_) | ObsValue::Integer(_) => false,
        }
    }

    /// Whether a free-text drug mention names a member drug (whole words, case-insensitive).
    pub fn names_drug(&self, text: &str) -> bool {
        let text = text.to_lowercase();
        let words: Vec<&str> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '-'))
            .filter(|w| !w.is_empty())
            .collect();
        self.names.iter().any(|name| {
            let name_words: Vec<&str> = name.split_whitespace().collect();
            !name_words.is_empty()
                && words
                    .windows(name_words.len())
                    .any(|w| w == name_words.as_slice())
        })
    }
}

/// Inclusive range membership in code order; a header code (a proper prefix of the codes in
/// the range, at least 3 characters, e.g. `C50` or `C50.9`) is in the range when its prefix
/// falls between the bounds' prefixes of the same length.
fn in_range(code: &str, low: &str, high: &str) -> bool {
    if low <= code && code <= high {
        return true;
    }
    let n = code.len();
    if n < 3 || n >= low.len() || n >= high.len() {
        return false;
    }
    match (low.get(..n), high.get(..n)) {
        (Some(lo), Some(hi)) => lo <= code && code <= hi,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icd(code: &str) -> Code {
        Code::of(CodeSystem::Icd10Cm, code)
    }

    fn breast() -> ValueSet {
        let mut vs = ValueSet::new("breast_primary", "");
        vs.add_range(CodeSystem::Icd10Cm, "C50.011", "C50.929");
        vs.add_range(CodeSystem::Icd10Cm, "C50.A0", "C50.A2");
        vs
    }

    #[test]
    fn breast_range_bounds_and_inflammatory() {
        let vs = breast();
        for code in [
            "C50.011", "C50.911", "C50.929", "C50.412", "C50.A0", "C50.A1", "C50.A2", "c50911",
        ] {
            assert!(vs.contains(&icd(code)), "{code}");
        }
        for code in ["C50.A3", "C51.0", "C49.9", "D05.10", "C79.81"] {
            assert!(!vs.contains(&icd(code)), "{code}");
        }
    }

    #[test]
    fn header_codes_of_a_range_match() {
        let vs = breast();
        for code in ["C50", "C50.9", "C50.91", "C50.A"] {
            assert!(vs.contains(&icd(code)), "{code}");
        }
        assert!(!vs.contains(&icd("C5")));
    }

    #[test]
    fn lung_range_includes_billable_c34_2_and_headers() {
        let mut vs = ValueSet::new("nsclc", "");
        vs.add_range(CodeSystem::Icd10Cm, "C34.00", "C34.92");
        vs.add_code(icd("C33"));
        for code in ["C34.2", "C34.00", "C34.92", "C34.11", "C34", "C34.1", "C33"] {
            assert!(vs.contains(&icd(code)), "{code}");
        }
        for code in ["C34.93", "C35", "C32.9"] {
            assert!(!vs.contains(&icd(code)), "{code}");
        }
    }

    #[test]
    fn exact_codes_do_not_match_siblings() {
        let mut vs = ValueSet::new("salivary", "");
        for c in ["C06.9", "C07", "C08", "C08.0", "C08.1", "C08.9"] {
            vs.add_code(icd(c));
        }
        for code in ["C08.0", "C08.1", "C08.9", "C07", "C06.9", "C08"] {
            assert!(vs.contains(&icd(code)), "{code}");
        }
        for code in ["C08.5", "C06.0", "C06", "C07.1"] {
            assert!(!vs.contains(&icd(code)), "{code}");
        }
    }

    #[test]
    fn prefixes_match_whole_families() {
        let mut vs = ValueSet::new("metastasis", "");
        for p in ["C77", "C78", "C79", "C7B"] {
            vs.add_prefix(CodeSystem::Icd10Cm, p);
        }
        for code in ["C77.3", "C78.7", "C79.31", "C79.81", "C7B.02", "C79"] {
            assert!(vs.contains(&icd(code)), "{code}");
        }
        assert!(!vs.contains(&icd("C76.0")));
        assert!(!vs.contains(&icd("C80.1")));
    }

    #[test]
    fn text_and_names_are_case_insensitive() {
        let mut vs = ValueSet::new("ihc_3", "");
        vs.add_text("3+");
        vs.add_name("neratinib");
        vs.add_name("herceptin hylecta");
        assert!(vs.matches_text(" 3+ "));
        let local = ObsValue::Coded {
            codes: vec![Code::new("http://example.org/ihc", "3+")],
            text: None,
        };
        assert!(vs.matches_value(&local));
        assert!(!vs.matches_text("2+"));
        assert!(vs.names_drug("Neratinib 240 mg daily"));
        assert!(vs.names_drug("herceptin hylecta"));
        assert!(!vs.names_drug("hylecta"));
        assert!(!vs.names_drug("neratinibx"));
    }
}
