//! Arbitrary JSON for property tests: a few levels deep, biased towards FHIR's structural
//! keys so that generated documents reach past the first checks.

use proptest::prelude::*;
use serde_json::Value;

/// JSON trees up to `depth` levels, object keys drawn from `keys` or short random names.
pub(crate) fn json_tree(keys: &'static [&'static str], depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9|/:#._ -]{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 64, 6, move |inner| {
        let key = prop_oneof![
            prop::sample::select(keys).prop_map(str::to_owned),
            "[a-z]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}
