//! Drug products to ingredients: `profiles/data/drug-products.toml`, embedded.
//!
//! Policies name ingredients; EHRs send products (RxNorm SCD/SBD/BN, NDCs, local codes with a
//! display). [`Products::expand`] adds the ingredient codes of every listed product to a use's
//! codes; [`Products::by_name`] finds the ingredients a display or text names, for a use none
//! of whose codes the map knows (a local code, an unlisted RxNorm product). Matching by name is
//! whole words, longest name first, so "trastuzumab emtansine" is that conjugate and
//! never trastuzumab, and "ado-trastuzumab" is one word.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::fhir::{Code, CodeSystem};

const EMBEDDED: &str = include_str!("../../profiles/data/drug-products.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    ingredient: Vec<IngredientEntry>,
    product: Vec<ProductEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngredientEntry {
    rxnorm: Vec<String>,
    name: String,
    names: Vec<String>,
    #[serde(default)]
    hcpcs: Vec<String>,
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductEntry {
    system: String,
    code: String,
    #[allow(dead_code)]
    display: String,
    ingredients: Vec<String>,
    #[allow(dead_code)]
    source: String,
}

/// An ingredient found by name in a display or text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameMatch {
    /// The ingredient's name (`paclitaxel`).
    pub ingredient: String,
    /// Its RxNorm codes.
    pub codes: Vec<Code>,
    /// The text it was found in, as sent.
    pub text: String,
}

/// The compiled map.
#[derive(Debug)]
pub struct Products {
    /// Product code -> ingredient codes.
    products: HashMap<Code, Vec<Code>>,
    /// Every code the map knows: products, ingredients (RxNorm and HCPCS).
    known: std::collections::HashSet<Code>,
    /// (name words, ingredient index), longest names first.
    names: Vec<(Vec<String>, usize)>,
    ingredients: Vec<(String, Vec<Code>)>,
}

/// Why the embedded map failed to load (caught by the unit tests, never at run time).
#[derive(Debug, thiserror::Error)]
pub enum ProductsError {
    #[error("profiles/data/drug-products.toml: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("profiles/data/drug-products.toml: {0}")]
    Invalid(String),
}

static EMBEDDED_MAP: LazyLock<Result<Products, ProductsError>> =
    LazyLock::new(|| Products::parse(EMBEDDED));

impl Products {
    /// The map compiled into the binary; `None` only if the embedded file were broken, which
    /// the unit tests rule out (the gatherer then reads codes as sent).
    pub fn embedded() -> Option<&'static Products> {
        EMBEDDED_MAP.as_ref().ok()
    }

    fn parse(text: &str) -> Result<Self, ProductsError> {
        let file: File = toml::from_str(text)?;
        let rxnorm = |c: &str| Code::of(CodeSystem::RxNorm, c);
        let mut known = std::collections::HashSet::new();
        let mut ingredients = Vec::new();
        let mut names = Vec::new();
        for (index, entry) in file.ingredient.iter().enumerate() {
            let codes: Vec<Code> = entry.rxnorm.iter().map(|c| rxnorm(c)).collect();
            if codes.is_empty() {
                return Err(ProductsError::Invalid(format!(
                    "ingredient `{}` has no RxNorm code",
                    entry.name
                )));
            }
            known.extend(codes.iter().cloned());
            known.extend(entry.hcpcs.iter().map(|c| Code::of(CodeSystem::Hcpcs, c)));
            for name in entry.names.iter().chain([&entry.name]) {
                let words = words(name);
                if !words.is_empty() {
                    names.push((words, index));
                }
            }
            ingredients.push((entry.name.clone(), codes));
        }
        names.sort_by_key(|(words, _)| std::cmp::Reverse(words.len()));
        let ingredient_codes: std::collections::HashSet<Code> = ingredients
            .iter()
            .flat_map(|(_, codes)| codes.iter().cloned())
            .collect();
        let mut products = HashMap::new();
        for entry in &file.product {
            let system = CodeSystem::from_name(&entry.system).ok_or_else(|| {
                ProductsError::Invalid(format!("unknown system `{}`", entry.system))
            })?;
            let product = Code::of(system, &entry.code);
            let mapped: Vec<Code> = entry.ingredients.iter().map(|c| rxnorm(c)).collect();
            if let Some(unknown) = mapped.iter().find(|c| !ingredient_codes.contains(c)) {
                return Err(ProductsError::Invalid(format!(
                    "product `{}` maps to `{}`, which is not a listed ingredient",
                    entry.code, unknown.code
                )));
            }
            if products.insert(product.clone(), mapped).is_some() {
                return Err(ProductsError::Invalid(format!(
                    "product `{}` is listed twice",
                    entry.code
                )));
            }
            known.insert(product);
        }
        Ok(Self {
            products,
            known,
            names,
            ingredients,
        })
    }

    /// `codes` followed by the ingredient codes of the listed products among them.
    pub fn expand(&self, codes: Vec<Code>) -> Vec<Code> {
        let added: Vec<Code> = codes
            .iter()
            .filter_map(|c| self.products.get(c))
            .flatten()
            .cloned()
            .collect();
        let mut all = codes;
        all.extend(added);
        all
    }

    /// Whether the map knows any of `codes` (then no name matching is needed).
    pub fn knows_any(&self, codes: &[Code]) -> bool {
        codes.iter().any(|c| self.known.contains(c))
    }

    /// The ingredients `texts` name, each once, in the order first found.
    pub fn by_name<'t>(&self, texts: impl IntoIterator<Item = &'t str>) -> Vec<NameMatch> {
        let mut found: Vec<NameMatch> = Vec::new();
        for text in texts {
            let mut in_text: Vec<(usize, NameMatch)> = Vec::new();
            let mut words: Vec<Option<String>> = words(text).into_iter().map(Some).collect();
            for (name, index) in &self.names {
                let Some(at) = (0..words.len().saturating_sub(name.len() - 1)).find(|&i| {
                    name.iter()
                        .enumerate()
                        .all(|(k, w)| words.get(i + k).and_then(Option::as_deref) == Some(w))
                }) else {
                    continue;
                };
                // Words used by a longer name are not read again by a shorter one.
                for w in words.iter_mut().skip(at).take(name.len()) {
                    *w = None;
                }
                let Some((ingredient, codes)) = self.ingredients.get(*index) else {
                    continue;
                };
                in_text.push((
                    at,
                    NameMatch {
                        ingredient: ingredient.clone(),
                        codes: codes.clone(),
                        text: text.trim().to_owned(),
                    },
                ));
            }
            // In the order the text names them.
            in_text.sort_by_key(|(at, _)| *at);
            for (_, m) in in_text {
                if !found.iter().any(|f| f.ingredient == m.ingredient) {
                    found.push(m);
                }
            }
        }
        found
    }
}

/// Lower-case words: letters, digits and hyphens (`ado-trastuzumab` is one word).
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> &'static Products {
        match Products::embedded() {
            Some(p) => p,
            None => panic!("{:?}", EMBEDDED_MAP.as_ref().err()),
        }
    }

    fn rx(c: &str) -> Code {
        Code::of(CodeSystem::RxNorm, c)
    }

    #[test]
    fn the_embedded_map_loads() {
        assert!(EMBEDDED_MAP.is_ok(), "{:?}", EMBEDDED_MAP.as_ref().err());
    }

    #[test]
    fn products_gain_their_ingredients() {
        assert_eq!(
            map().expand(vec![rx("583214")]),
            vec![rx("583214"), rx("56946")]
        );
        assert_eq!(
            map().expand(vec![Code::new(
                "http://hl7.org/fhir/sid/ndc",
                "50242-0088-01"
            )]),
            vec![
                Code::new("http://hl7.org/fhir/sid/ndc", "50242-0088-01"),
                rx("1371041")
            ]
        );
        // An ingredient and an unknown code are kept as they are.
        assert_eq!(
            map().expand(vec![rx("56946"), rx("999")]),
            vec![rx("56946"), rx("999")]
        );
    }

    #[test]
    fn names_match_whole_words_longest_first() {
        let names = |t: &str| -> Vec<String> {
            map()
                .by_name([t])
                .into_iter()
                .map(|m| m.ingredient)
                .collect()
        };
        assert_eq!(
            names("PACLitaxel 6 MG/ML Injectable Solution"),
            vec!["paclitaxel"]
        );
        assert_eq!(
            names("Trastuzumab emtansine 160 mg"),
            vec!["ado-trastuzumab emtansine"]
        );
        assert_eq!(
            names("ado-trastuzumab emtansine"),
            vec!["ado-trastuzumab emtansine"]
        );
        assert_eq!(
            names("fam-trastuzumab deruxtecan-nxki"),
            vec!["fam-trastuzumab deruxtecan"]
        );
        assert_eq!(
            names("pertuzumab / trastuzumab / hyaluronidase-zzxf [Phesgo]"),
            vec!["pertuzumab", "trastuzumab"]
        );
        assert_eq!(names("Taxotere (docetaxel) 75 mg/m2"), vec!["docetaxel"]);
        assert!(names("Ondansetron 8 mg").is_empty());
        assert!(names("paclitaxelx").is_empty());
    }

    #[test]
    fn every_product_maps_to_a_listed_ingredient_and_bad_files_are_refused() {
        let bad = "[[ingredient]]\nrxnorm = [\"1\"]\nname = \"a\"\nnames = []\nsource = \"s\"\n\
                   [[product]]\nsystem = \"rxnorm\"\ncode = \"2\"\ndisplay = \"d\"\ningredients = [\"3\"]\nsource = \"s\"\n";
        assert!(matches!(
            Products::parse(bad),
            Err(ProductsError::Invalid(_))
        ));
        let typo = "[[ingredient]]\nrxnorm = [\"1\"]\nname = \"a\"\nnames = []\nsorce = \"s\"\nproduct = []\n";
        assert!(Products::parse(typo).is_err());
    }
}
