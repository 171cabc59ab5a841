//! Authorization numbers, issued deterministically from the request's identity.
//!
//! A server with a store derives them with a keyed hash ([`NumberKey`], HMAC-SHA256 over the
//! submitter and the Claim identifier), so nobody can compute another request's number and two
//! submitters using one Claim identifier get different numbers. The unkeyed FNV numbers below
//! remain for offline `evaluate` and `replay` (numbers issued to nobody), and numbers already
//! issued are never recomputed: updates and resubmissions take them from the store.
//!
//! The engine decides; it does not number. Numbers are derived from the Claim's business
//! identifier (or the Bundle's when the Claim has none) so that a resubmission of the same
//! request gets the same numbers, and a gateway retry never mints a second authorization.
//! The hash is FNV-1a 64 (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`), written
//! out here because `std`'s `DefaultHasher` may change between Rust releases and a number,
//! once sent to a provider, must never change.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The secret authorization numbers are derived with. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct NumberKey(Vec<u8>);

impl NumberKey {
    pub fn new(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl std::fmt::Debug for NumberKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NumberKey(***)")
    }
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// `PA-` and the top 48 bits of the hash as 12 upper-case hex digits.
fn format_number(hash: u64) -> String {
    format!("PA-{:012X}", hash >> 16)
}

/// What a request's authorization numbers are derived from: `claim|system|value` of the
/// Claim's first identifier with a value; else `bundle|system|value` of the Bundle identifier;
/// else `claim-entry|fullUrl`. Read once by the checks ([`super::request::RequestIdentity`]).
pub(super) fn number_basis(claim: &Value, bundle: &Value, claim_full_url: &str) -> String {
    let claim_identifier = claim
        .get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(system_value);
    if let Some((system, value)) = claim_identifier {
        return format!("claim|{system}|{value}");
    }
    if let Some((system, value)) = bundle.get("identifier").and_then(system_value) {
        return format!("bundle|{system}|{value}");
    }
    format!("claim-entry|{claim_full_url}")
}

/// The number of one certified item (`reviewAction.number`) of the request with this basis.
pub(super) fn item_number(basis: &str, sequence: u32) -> String {
    format_number(fnv1a64(format!("{basis}#item={sequence}").as_bytes()))
}

/// The number of one certified item issued by a server: HMAC-SHA256 under `key` over the
/// submitter, the request's number basis and the item, in the same `PA-` + 12 hex format.
pub(super) fn keyed_item_number(
    key: &NumberKey,
    submitter: &str,
    basis: &str,
    sequence: u32,
) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key.0) else {
        // HMAC takes keys of any length; unreachable, but never panic on a request path.
        return item_number(basis, sequence);
    };
    // Length-prefixed so that no two (submitter, basis) pairs hash the same input.
    mac.update(format!("{}:{submitter}|{basis}#item={sequence}", submitter.len()).as_bytes());
    let tag = mac.finalize().into_bytes();
    let mut top = [0u8; 8];
    top.copy_from_slice(&tag[..8]);
    format_number(u64::from_be_bytes(top))
}

fn system_value(identifier: &Value) -> Option<(&str, &str)> {
    let value = identifier
        .get("value")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())?;
    let system = identifier
        .get("system")
        .and_then(Value::as_str)
        .unwrap_or("");
    Some((system, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn numbers_are_stable_and_distinct_per_item() {
        let id = "claim|urn:trnorg:9012345678|111099";
        let one = item_number(id, 1);
        assert_eq!(one, item_number(id, 1));
        assert_ne!(one, item_number(id, 2));
        assert_eq!(one.len(), 15);
        assert!(one.starts_with("PA-"));
        assert!(
            one[3..]
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }

    #[test]
    fn keyed_numbers_depend_on_key_submitter_and_item() {
        let id = "claim|urn:trnorg:9012345678|111099";
        let key = NumberKey::new(b"k1");
        let a = keyed_item_number(&key, "client a", id, 1);
        assert_eq!(a, keyed_item_number(&key, "client a", id, 1));
        assert_ne!(a, keyed_item_number(&key, "client b", id, 1));
        assert_ne!(a, keyed_item_number(&key, "client a", id, 2));
        assert_ne!(
            a,
            keyed_item_number(&NumberKey::new(b"k2"), "client a", id, 1)
        );
        assert_ne!(a, item_number(id, 1));
        assert_eq!(a.len(), 15);
        assert_eq!(format!("{key:?}"), "NumberKey(***)");
    }

    #[test]
    fn keyed_number_format_is_pinned() {
        // Pins the keyed algorithm: changing it would renumber resubmissions' new items.
        let number = keyed_item_number(&NumberKey::new(b"key"), "client a", "claim|s|v", 1);
        assert_eq!(number, "PA-3670A4DC573B");
    }

    #[test]
    fn number_format_is_pinned() {
        // Pins the algorithm: changing it would renumber authorizations already issued.
        assert_eq!(format_number(fnv1a64(b"foobar")), "PA-85944171F739");
    }
}
