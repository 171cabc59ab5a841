//! SMART scopes: `system/Resource.cruds` (v2) and `system/Resource.read|write|*` (v1), and what
//! each route needs of them.

/// One interaction on a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Action {
    fn letter(self) -> char {
        match self {
            Self::Create => 'c',
            Self::Read => 'r',
            Self::Update => 'u',
            Self::Delete => 'd',
            Self::Search => 's',
        }
    }
}

/// What a route needs: `action` on any one of `resources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub resources: &'static [&'static str],
    pub action: Action,
}

impl Need {
    /// The scope named in a 403, e.g. `system/Claim.c`.
    pub fn describe(&self) -> String {
        self.resources
            .iter()
            .map(|r| format!("system/{r}.{}", self.action.letter()))
            .collect::<Vec<_>>()
            .join("` or `")
    }
}

/// A parsed `system/...` scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// A resource type, or `*`.
    resource: String,
    /// The interactions granted, as SMART v2 letters.
    letters: String,
}

impl Scope {
    /// Parses a system scope; `None` for anything else (patient/user scopes, `launch`, typos).
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("system/")?;
        let (resource, permission) = rest.split_once('.')?;
        let valid_resource = resource == "*"
            || (!resource.is_empty() && resource.chars().all(|c| c.is_ascii_alphanumeric()));
        if !valid_resource {
            return None;
        }
        let letters = match permission {
            "read" => "rs".to_owned(),
            "write" => "cud".to_owned(),
            "*" => "cruds".to_owned(),
            v2 => {
                // SMART v2: a subset of `cruds`, in that order, each letter at most once.
                let mut last = None;
                for c in v2.chars() {
                    let index = "cruds".find(c)?;
                    if last.is_some_and(|l| index <= l) {
                        return None;
                    }
                    last = Some(index);
                }
                if v2.is_empty() {
                    return None;
                }
                v2.to_owned()
            }
        };
        Some(Self {
            resource: resource.to_owned(),
            letters,
        })
    }

    fn grants(&self, need: &Need) -> bool {
        (self.resource == "*" || need.resources.contains(&self.resource.as_str()))
            && self.letters.contains(need.action.letter())
    }
}

/// Whether any of `scopes` (space-separated scope strings) grants `need`.
pub fn satisfies<'a>(scopes: impl IntoIterator<Item = &'a str>, need: &Need) -> bool {
    scopes
        .into_iter()
        .filter_map(Scope::parse)
        .any(|s| s.grants(need))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBMIT: Need = Need {
        resources: &["Claim"],
        action: Action::Create,
    };
    const INQUIRE: Need = Need {
        resources: &["Claim", "ClaimResponse"],
        action: Action::Read,
    };

    #[test]
    fn v2_and_v1_spellings_grant_what_they_say() {
        assert!(satisfies(["system/Claim.c"], &SUBMIT));
        assert!(satisfies(["system/Claim.write"], &SUBMIT));
        assert!(satisfies(["system/*.cruds"], &SUBMIT));
        assert!(satisfies(["system/Claim.*"], &SUBMIT));
        assert!(!satisfies(["system/Claim.r"], &SUBMIT));
        assert!(!satisfies(["system/ClaimResponse.c"], &SUBMIT));
        assert!(satisfies(["system/ClaimResponse.r"], &INQUIRE));
        assert!(satisfies(["system/*.read"], &INQUIRE));
        assert!(!satisfies(["system/Claim.c"], &INQUIRE));
        assert!(!satisfies(["patient/Claim.r", "user/*.read"], &INQUIRE));
    }

    #[test]
    fn malformed_scopes_grant_nothing() {
        for bad in [
            "system/Claim.",
            "system/Claim.rc",
            "system/Claim.rr",
            "system/Claim.x",
            "system/.r",
            "system/Cl aim.r",
            "Claim.r",
        ] {
            assert_eq!(Scope::parse(bad), None, "{bad}");
        }
        assert_eq!(SUBMIT.describe(), "system/Claim.c");
        assert_eq!(
            INQUIRE.describe(),
            "system/Claim.r` or `system/ClaimResponse.r"
        );
    }
}
