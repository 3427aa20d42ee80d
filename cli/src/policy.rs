//! SNS subscription filter policies (message-attribute scope), evaluated the way SNS does for
//! the shapes this project uses, so a replay sends a consumer only what SNS would have sent it.

use std::collections::BTreeMap;

use serde_json::Value;

/// Message attributes as stored with each event: name -> (data type, string value).
pub type Attributes = BTreeMap<String, Attribute>;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attribute {
    #[serde(rename = "DataType")]
    pub data_type: String,
    #[serde(rename = "StringValue", default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
}

/// A filter policy that uses an operator this evaluator does not know: the caller must not guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the filter policy uses `{0}`, which orderflow cannot evaluate (supported: exact strings and numbers, prefix, anything-but, exists, $or)"
)]
pub struct UnsupportedPolicy(pub String);

/// A parsed filter policy; `None` inside means "no policy": every message is delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterPolicy(Option<Value>);

/// The key of the policy [`FilterPolicy::unsupported`] builds: any evaluation fails naming it.
const UNSUPPORTED: &str = "$orderflow-unsupported";

impl FilterPolicy {
    pub fn accept_all() -> Self {
        FilterPolicy(None)
    }

    /// A policy whose every evaluation fails with `what` (e.g. a body-scoped policy).
    pub fn unsupported(what: &str) -> Self {
        FilterPolicy(Some(serde_json::json!({ UNSUPPORTED: what })))
    }

    /// From the subscription's `FilterPolicy` attribute (absent or empty: accept all).
    pub fn parse(text: Option<&str>) -> Result<Self, serde_json::Error> {
        match text.map(str::trim) {
            None | Some("") => Ok(FilterPolicy(None)),
            Some(text) => serde_json::from_str(text).map(|value| FilterPolicy(Some(value))),
        }
    }

    pub fn is_accept_all(&self) -> bool {
        self.0.is_none()
    }

    /// Whether SNS would deliver a message with these attributes.
    pub fn accepts(&self, attributes: &Attributes) -> Result<bool, UnsupportedPolicy> {
        match &self.0 {
            None => Ok(true),
            Some(policy) => matches_object(policy, attributes),
        }
    }
}

fn matches_object(policy: &Value, attributes: &Attributes) -> Result<bool, UnsupportedPolicy> {
    let Value::Object(keys) = policy else { return Err(UnsupportedPolicy("a policy that is not an object".into())) };
    for (key, condition) in keys {
        if key == UNSUPPORTED {
            return Err(UnsupportedPolicy(condition.as_str().unwrap_or(UNSUPPORTED).to_owned()));
        }
        let matched = if key == "$or" {
            let Value::Array(alternatives) = condition else { return Err(UnsupportedPolicy("$or".into())) };
            let mut any = false;
            for alternative in alternatives {
                any |= matches_object(alternative, attributes)?;
            }
            any
        } else {
            matches_key(condition, attributes.get(key))?
        };
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A key's condition: an array of alternatives (any matches), or a single one.
fn matches_key(condition: &Value, attribute: Option<&Attribute>) -> Result<bool, UnsupportedPolicy> {
    let alternatives = match condition {
        Value::Array(alternatives) => alternatives.as_slice(),
        single => std::slice::from_ref(single),
    };
    let value = attribute.and_then(|attribute| attribute.string_value.as_deref());
    let mut any = false;
    for alternative in alternatives {
        any |= matches_one(alternative, value)?;
    }
    Ok(any)
}

fn matches_one(condition: &Value, value: Option<&str>) -> Result<bool, UnsupportedPolicy> {
    Ok(match condition {
        Value::String(expected) => value == Some(expected.as_str()),
        Value::Number(expected) => value.and_then(|value| value.parse::<f64>().ok()) == expected.as_f64(),
        Value::Object(operator) => {
            let Some((name, argument)) = operator.iter().next() else { return Ok(false) };
            match (name.as_str(), argument) {
                ("exists", Value::Bool(exists)) => value.is_some() == *exists,
                ("prefix", Value::String(prefix)) => value.is_some_and(|value| value.starts_with(prefix.as_str())),
                ("anything-but", excluded) => match value {
                    None => false,
                    Some(value) => !matches_key(excluded, Some(&string_attribute(value)))?,
                },
                (other, _) => return Err(UnsupportedPolicy(other.to_owned())),
            }
        }
        Value::Null | Value::Bool(_) | Value::Array(_) => return Err(UnsupportedPolicy(condition.to_string())),
    })
}

fn string_attribute(value: &str) -> Attribute {
    Attribute { data_type: "String".into(), string_value: Some(value.to_owned()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(pairs: &[(&str, &str)]) -> Attributes {
        pairs.iter().map(|(name, value)| ((*name).to_owned(), string_attribute(value))).collect()
    }

    fn policy(text: &str) -> FilterPolicy {
        FilterPolicy::parse(Some(text)).unwrap()
    }

    #[test]
    fn no_policy_accepts_everything() {
        assert!(FilterPolicy::parse(None).unwrap().accepts(&attributes(&[])).unwrap());
        assert!(FilterPolicy::parse(Some(" ")).unwrap().is_accept_all());
    }

    #[test]
    fn exact_strings_on_every_key() {
        let policy = policy(r#"{"event_type":["OrderPlaced","OrderConfirmed"],"event_version":["1"]}"#);
        assert!(policy.accepts(&attributes(&[("event_type", "OrderPlaced"), ("event_version", "1")])).unwrap());
        assert!(policy.accepts(&attributes(&[("event_type", "OrderConfirmed"), ("event_version", "1")])).unwrap());
        assert!(!policy.accepts(&attributes(&[("event_type", "OrderPlaced"), ("event_version", "2")])).unwrap());
        assert!(!policy.accepts(&attributes(&[("event_type", "StockReserved"), ("event_version", "1")])).unwrap());
        assert!(!policy.accepts(&attributes(&[("event_type", "OrderPlaced")])).unwrap(), "a missing key fails");
    }

    #[test]
    fn operators() {
        let version = attributes(&[("event_type", "OrderPlaced"), ("event_version", "1")]);
        assert!(policy(r#"{"event_version":[1]}"#).accepts(&version).unwrap());
        assert!(policy(r#"{"event_type":[{"prefix":"Order"}]}"#).accepts(&version).unwrap());
        assert!(!policy(r#"{"event_type":[{"anything-but":["OrderPlaced"]}]}"#).accepts(&version).unwrap());
        assert!(policy(r#"{"event_type":[{"anything-but":"Stock"}]}"#).accepts(&version).unwrap());
        assert!(policy(r#"{"trace":[{"exists":false}]}"#).accepts(&version).unwrap());
        assert!(!policy(r#"{"trace":[{"exists":true}]}"#).accepts(&version).unwrap());
        assert!(policy(r#"{"$or":[{"event_type":["X"]},{"event_version":["1"]}]}"#).accepts(&version).unwrap(), "$or");
        let error = policy(r#"{"amount":[{"numeric":[">",0]}]}"#).accepts(&version).unwrap_err();
        assert!(error.to_string().contains("numeric"), "{error}");
    }

    #[test]
    fn an_unsupported_policy_never_guesses() {
        let error = FilterPolicy::unsupported("FilterPolicyScope MessageBody").accepts(&attributes(&[])).unwrap_err();
        assert!(error.to_string().contains("FilterPolicyScope MessageBody"), "{error}");
    }

    #[test]
    fn attributes_parse_from_the_store_shape() {
        let stored = r#"{"event_type":{"DataType":"String","StringValue":"OrderPlaced"},"event_version":{"DataType":"String","StringValue":"1"}}"#;
        let parsed: Attributes = serde_json::from_str(stored).unwrap();
        assert_eq!(parsed, attributes(&[("event_type", "OrderPlaced"), ("event_version", "1")]));
    }
}
