//! The `Parameters` wrapper of a FHIR operation's input: the one reading of it, for `$submit`
//! and `$inquire` alike.

use serde_json::Value;

/// Why a `Parameters` body carries no Bundle, with the FHIRPath of the gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoBundle {
    pub path: String,
    pub message: String,
}

/// The position in `Parameters.parameter` of the Bundle the operation works on: the
/// `resource` parameter (the PAS OperationDefinitions' input name), else, for senders that
/// name it otherwise, the first parameter whose resource is a Bundle.
pub fn bundle_parameter(parameters: &Value) -> Result<usize, NoBundle> {
    let list = parameters
        .get("parameter")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let is_bundle = |p: &Value| {
        p.get("resource")
            .and_then(|r| r.get("resourceType"))
            .and_then(Value::as_str)
            == Some("Bundle")
    };
    if let Some(i) = list
        .iter()
        .position(|p| p.get("name").and_then(Value::as_str) == Some("resource"))
    {
        return if is_bundle(&list[i]) {
            Ok(i)
        } else {
            Err(NoBundle {
                path: format!("Parameters.parameter[{i}].resource"),
                message: "the `resource` parameter holds no Bundle".to_owned(),
            })
        };
    }
    list.iter().position(is_bundle).ok_or_else(|| NoBundle {
        path: "Parameters.parameter".to_owned(),
        message: "`Parameters` carries no `resource` parameter with a Bundle".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_resource_parameter_else_the_first_bundle() {
        let bundle = json!({"resourceType": "Bundle"});
        let named = json!({"parameter": [{"name": "x", "resource": bundle}, {"name": "resource", "resource": bundle}]});
        assert_eq!(bundle_parameter(&named), Ok(1));
        let unnamed = json!({"parameter": [{"name": "x", "valueString": "y"}, {"name": "request", "resource": bundle}]});
        assert_eq!(bundle_parameter(&unnamed), Ok(1));
        let wrong =
            json!({"parameter": [{"name": "resource", "resource": {"resourceType": "Claim"}}]});
        assert_eq!(
            bundle_parameter(&wrong).map_err(|e| e.path),
            Err("Parameters.parameter[0].resource".to_owned())
        );
        assert_eq!(
            bundle_parameter(&json!({})).map_err(|e| e.path),
            Err("Parameters.parameter".to_owned())
        );
    }
}
