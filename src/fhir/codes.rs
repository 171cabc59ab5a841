//! Code systems and codes as EHRs really send them, normalized once at the edge.
//!
//! Every comparison in the engine is between normalized [`Code`]s, so the URI variants of a
//! system (three for HCPCS), ICD-10-CM codes without their dot, and NDCs in 10- or 11-digit
//! form all meet in one spelling. See `shared/spec/codes.md`.

use std::fmt;

/// A code system the adapter understands, whatever URI the sender used for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CodeSystem {
    Icd10Cm,
    Loinc,
    Snomed,
    RxNorm,
    Hcpcs,
    Ndc,
    Ucum,
    /// Any other system, kept verbatim so that nothing is silently merged.
    Other(String),
}

impl CodeSystem {
    /// Maps every URI variant listed in codes.md onto one system.
    pub fn from_uri(uri: &str) -> Self {
        match uri.trim() {
            "http://hl7.org/fhir/sid/icd-10-cm" | "http://hl7.org/fhir/sid/icd-10" => Self::Icd10Cm,
            "http://loinc.org" => Self::Loinc,
            "http://snomed.info/sct" => Self::Snomed,
            "http://www.nlm.nih.gov/research/umls/rxnorm" => Self::RxNorm,
            "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
            | "https://bluebutton.cms.gov/resources/codesystem/hcpcs"
            | "urn:oid:2.16.840.1.113883.6.285" => Self::Hcpcs,
            "http://hl7.org/fhir/sid/ndc" => Self::Ndc,
            "http://unitsofmeasure.org" => Self::Ucum,
            other if is_hgnc_uri(other) => Self::Other(HGNC_URI.to_owned()),
            other => Self::Other(other.to_owned()),
        }
    }

    /// The short names used in policy files (`icd-10-cm`, `loinc`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "icd-10-cm" => Self::Icd10Cm,
            "loinc" => Self::Loinc,
            "snomed" => Self::Snomed,
            "rxnorm" => Self::RxNorm,
            "hcpcs" => Self::Hcpcs,
            "ndc" => Self::Ndc,
            "ucum" => Self::Ucum,
            _ => return None,
        })
    }

    /// The URI the adapter writes when it emits a code of this system.
    pub fn uri(&self) -> &str {
        match self {
            Self::Icd10Cm => "http://hl7.org/fhir/sid/icd-10-cm",
            Self::Loinc => "http://loinc.org",
            Self::Snomed => "http://snomed.info/sct",
            Self::RxNorm => "http://www.nlm.nih.gov/research/umls/rxnorm",
            Self::Hcpcs => "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
            Self::Ndc => "http://hl7.org/fhir/sid/ndc",
            Self::Ucum => "http://unitsofmeasure.org",
            Self::Other(uri) => uri,
        }
    }
}

/// A normalized code: the system plus the code in the one spelling that system uses here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code {
    pub system: CodeSystem,
    pub code: String,
}

impl Code {
    /// Normalizes a code as received (`system` URI, `code` string).
    pub fn new(system_uri: &str, code: &str) -> Self {
        // An HGNC id sent without its system (`HGNC:3430`) names itself.
        let self_naming_hgnc = system_uri.trim().is_empty()
            && code
                .trim()
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("hgnc:"));
        let system = if self_naming_hgnc {
            CodeSystem::Other(HGNC_URI.to_owned())
        } else {
            CodeSystem::from_uri(system_uri)
        };
        let code = normalize(&system, code);
        Self { system, code }
    }

    /// Builds a code from a policy-file system name; the code is normalized the same way.
    pub fn of(system: CodeSystem, code: &str) -> Self {
        let code = normalize(&system, code);
        Self { system, code }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}", self.system.uri(), self.code)
    }
}

fn normalize(system: &CodeSystem, code: &str) -> String {
    let code = code.trim();
    match system {
        CodeSystem::Icd10Cm => normalize_icd10(code),
        CodeSystem::Ndc => normalize_ndc(code),
        CodeSystem::Hcpcs => code.to_ascii_uppercase(),
        CodeSystem::Other(uri) if uri == HGNC_URI => normalize_hgnc(code),
        _ => code.to_owned(),
    }
}

/// The one spelling of the HGNC gene code system (the Genomics Reporting IG's).
pub const HGNC_URI: &str = "http://www.genenames.org/geneId";

/// Whether `uri` is one of the spellings of HGNC seen in variant reports: `genenames.org`
/// with or without `www.`, `/geneId`, `https`, a trailing slash, or HGNC's OID.
fn is_hgnc_uri(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    let bare = lower
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.")
        .trim_end_matches('/');
    matches!(bare, "genenames.org" | "genenames.org/geneid")
        || lower == "urn:oid:2.16.840.1.113883.6.281"
}

/// HGNC ids compare as `HGNC:<number>` (`3430`, `hgnc:3430` and `HGNC: 3430` meet); a gene
/// symbol sent as the code (`ERBB2`) is kept as sent, for value sets that list symbols.
pub fn normalize_hgnc(code: &str) -> String {
    let number = code
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("hgnc:"))
        .and_then(|_| code.get(5..))
        .unwrap_or(code)
        .trim();
    if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()) {
        format!("HGNC:{number}")
    } else {
        code.to_owned()
    }
}

/// ICD-10-CM codes compare in their dotted, upper-case form: `c50911` -> `C50.911`.
pub fn normalize_icd10(code: &str) -> String {
    let upper: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if upper.len() > 3 && upper.is_ascii() {
        format!("{}.{}", &upper[..3], &upper[3..])
    } else {
        upper
    }
}

/// NDCs compare in their 11-digit 5-4-2 form without hyphens.
///
/// The hyphenated 10-digit layouts (4-4-2, 5-3-2, 5-4-1) pad the short segment with a
/// leading zero; an 11-digit code is kept. A bare 10-digit code is ambiguous (the segment to
/// pad is unknown) and is kept as sent, so it can only match a value set listing it so.
pub fn normalize_ndc(code: &str) -> String {
    let parts: Vec<&str> = code.split('-').map(str::trim).collect();
    if parts.len() == 3 && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())) {
        let labeler = format!("{:0>5}", parts[0]);
        let product = format!("{:0>4}", parts[1]);
        let package = format!("{:0>2}", parts[2]);
        if labeler.len() == 5 && product.len() == 4 && package.len() == 2 {
            return format!("{labeler}{product}{package}");
        }
    }
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd_with_or_without_dot_meet() {
        assert_eq!(
            Code::new("http://hl7.org/fhir/sid/icd-10-cm", "C50911").code,
            "C50.911"
        );
        assert_eq!(
            Code::new("http://hl7.org/fhir/sid/icd-10-cm", "c50.911").code,
            "C50.911"
        );
        assert_eq!(
            Code::new("http://hl7.org/fhir/sid/icd-10-cm", "C07").code,
            "C07"
        );
        assert_eq!(
            Code::new("http://hl7.org/fhir/sid/icd-10-cm", "C50.A1").code,
            "C50.A1"
        );
    }

    #[test]
    fn hcpcs_uri_variants_are_one_system() {
        let a = Code::new(
            "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
            "J9354",
        );
        let b = Code::new(
            "https://bluebutton.cms.gov/resources/codesystem/hcpcs",
            "j9354",
        );
        let c = Code::new("urn:oid:2.16.840.1.113883.6.285", "J9354");
        assert_eq!(a, b);
        assert_eq!(b, c);
    }

    #[test]
    fn ndc_forms_meet_in_eleven_digits() {
        let ndc = "http://hl7.org/fhir/sid/ndc";
        assert_eq!(Code::new(ndc, "50242-088-01").code, "50242008801");
        assert_eq!(Code::new(ndc, "50242-0088-01").code, "50242008801");
        assert_eq!(Code::new(ndc, "50242008801").code, "50242008801");
        assert_eq!(Code::new(ndc, "0002-1234-01").code, "00002123401");
        assert_eq!(Code::new(ndc, "50242-0088-1").code, "50242008801");
    }

    #[test]
    fn hgnc_spellings_meet_in_one_code() {
        let want = Code::new(HGNC_URI, "HGNC:3430");
        for system in [
            "http://www.genenames.org/geneId",
            "http://www.genenames.org",
            "https://www.genenames.org/",
            "http://genenames.org/geneId/",
            "https://www.genenames.org/geneId",
            "urn:oid:2.16.840.1.113883.6.281",
        ] {
            for code in ["HGNC:3430", "3430", "hgnc:3430", " HGNC: 3430 "] {
                assert_eq!(Code::new(system, code), want, "{system} {code}");
            }
        }
        assert_eq!(Code::new(HGNC_URI, "ERBB2").code, "ERBB2");
        // Without a system, an `HGNC:` id still names the gene; a bare number does not.
        assert_eq!(Code::new("", "hgnc:3430"), want);
        assert_eq!(
            Code::new("", "3430").system,
            CodeSystem::Other(String::new())
        );
        assert_eq!(
            Code::new("http://www.genenames.org/symbol", "3430").system,
            CodeSystem::Other("http://www.genenames.org/symbol".into())
        );
    }

    #[test]
    fn unknown_systems_are_kept_verbatim() {
        let c = Code::new("http://example.org/local", " X1 ");
        assert_eq!(
            c.system,
            CodeSystem::Other("http://example.org/local".into())
        );
        assert_eq!(c.code, "X1");
    }
}
