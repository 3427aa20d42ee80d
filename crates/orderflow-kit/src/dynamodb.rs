//! DynamoDB idioms every adapter needs: building and reading attributes, the JSON mapping, and
//! "write one record per key, or learn who got there first".

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};

/// One DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute (DynamoDB numbers travel as decimal strings).
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A timestamp attribute: RFC 3339, UTC, milliseconds, so that string order is time order.
pub fn timestamp(at: DateTime<Utc>) -> AttributeValue {
    s(at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A DynamoDB request that failed: which operation, the SDK's full explanation, and the SDK
/// error itself as the source.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB {operation} failed: {detail}")]
pub struct RequestFailed {
    pub operation: &'static str,
    detail: String,
    #[source]
    source: BoxError,
}

impl RequestFailed {
    pub fn new<E: std::error::Error + Send + Sync + 'static>(operation: &'static str, error: E) -> Self {
        RequestFailed { operation, detail: DisplayErrorContext(&error).to_string(), source: Box::new(error) }
    }
}

/// A stored item that does not have the shape the code expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored item: attribute `{attribute}` {problem}")]
pub struct MalformedItem {
    pub attribute: String,
    pub problem: String,
}

impl MalformedItem {
    pub fn new(attribute: &str, problem: impl Into<String>) -> Self {
        MalformedItem { attribute: attribute.to_owned(), problem: problem.into() }
    }
}

/// Typed reads of an item's attributes.
pub trait ItemExt {
    fn string(&self, name: &str) -> Result<&str, MalformedItem>;
    fn optional_string(&self, name: &str) -> Option<&str>;
    fn number<T: FromStr>(&self, name: &str) -> Result<T, MalformedItem>;
    /// A string attribute parsed with `FromStr` (ids, statuses, currencies).
    fn parsed<T>(&self, name: &str) -> Result<T, MalformedItem>
    where
        T: FromStr,
        T::Err: std::fmt::Display;
    fn time(&self, name: &str) -> Result<DateTime<Utc>, MalformedItem>;
}

impl ItemExt for Item {
    fn string(&self, name: &str) -> Result<&str, MalformedItem> {
        match self.get(name) {
            Some(AttributeValue::S(value)) => Ok(value),
            Some(_) => Err(MalformedItem::new(name, "is not a string")),
            None => Err(MalformedItem::new(name, "is missing")),
        }
    }

    fn optional_string(&self, name: &str) -> Option<&str> {
        self.string(name).ok()
    }

    fn number<T: FromStr>(&self, name: &str) -> Result<T, MalformedItem> {
        match self.get(name) {
            Some(AttributeValue::N(value)) => {
                value.parse().map_err(|_| MalformedItem::new(name, format!("{value:?} is out of range")))
            }
            Some(_) => Err(MalformedItem::new(name, "is not a number")),
            None => Err(MalformedItem::new(name, "is missing")),
        }
    }

    fn parsed<T>(&self, name: &str) -> Result<T, MalformedItem>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let text = self.string(name)?;
        text.parse().map_err(|error: T::Err| MalformedItem::new(name, format!("{text:?}: {error}")))
    }

    fn time(&self, name: &str) -> Result<DateTime<Utc>, MalformedItem> {
        let text = self.string(name)?;
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|error| MalformedItem::new(name, format!("{text:?}: {error}")))
    }
}

/// What [`put_if_absent`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum PutOutcome {
    /// The item was written.
    Written,
    /// An item with this key was already there (a redelivery, or a concurrent attempt that won):
    /// it stands, and here it is.
    Exists(Item),
}

#[derive(Debug, thiserror::Error)]
pub enum PutIfAbsentError {
    #[error(transparent)]
    Request(#[from] RequestFailed),
    /// The condition failed but a consistent read found nothing: the winner was deleted in
    /// between. Records of this kind are never deleted, so this is worth a retry and a look.
    #[error("an item with key {key} existed for the condition but not for the read that followed")]
    Vanished { key: String },
}

/// Writes `item` unless an item with its key `key_name` exists; otherwise returns the existing
/// item. The one-record-per-order tables (reservations, payments, notifications) all work this
/// way: whichever of two concurrent attempts writes second stands down and reads the winner.
pub async fn put_if_absent(
    client: &Client,
    table: &str,
    key_name: &str,
    item: Item,
) -> Result<PutOutcome, PutIfAbsentError> {
    let key_value = item.get(key_name).cloned().unwrap_or(AttributeValue::Null(true));
    let result = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#key)")
        .expression_attribute_names("#key", key_name)
        .send()
        .await;
    let error = match result {
        Ok(_) => return Ok(PutOutcome::Written),
        Err(error) => error.into_service_error(),
    };
    if !error.is_conditional_check_failed_exception() {
        return Err(RequestFailed::new("PutItem", error).into());
    }
    let existing = client
        .get_item()
        .table_name(table)
        .key(key_name, key_value.clone())
        .consistent_read(true)
        .send()
        .await
        .map_err(|error| RequestFailed::new("GetItem", error))?;
    match existing.item {
        Some(item) => Ok(PutOutcome::Exists(item)),
        None => Err(PutIfAbsentError::Vanished { key: format!("{key_value:?}") }),
    }
}

/// JSON to DynamoDB: numbers stay exact (N is a decimal string), objects become maps.
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(flag) => AttributeValue::Bool(*flag),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => AttributeValue::S(text.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(to_attribute).collect()),
        Value::Object(map) => {
            AttributeValue::M(map.iter().map(|(key, value)| (key.clone(), to_attribute(value))).collect())
        }
    }
}

/// DynamoDB to JSON, for the attribute types [`to_attribute`] writes.
pub fn from_attribute(attribute: &AttributeValue) -> Result<Value, MalformedItem> {
    Ok(match attribute {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(flag) => Value::Bool(*flag),
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(number) => {
            let parsed = number
                .parse::<u64>()
                .map(Number::from)
                .or_else(|_| number.parse::<i64>().map(Number::from))
                .ok()
                .or_else(|| number.parse::<f64>().ok().and_then(Number::from_f64));
            Value::Number(parsed.ok_or_else(|| MalformedItem::new("(number)", format!("{number:?} is not a number")))?)
        }
        AttributeValue::L(values) => Value::Array(values.iter().map(from_attribute).collect::<Result<_, _>>()?),
        AttributeValue::M(map) => from_item(map)?,
        other => return Err(MalformedItem::new("(value)", format!("has an unexpected type {other:?}"))),
    })
}

/// A whole item as a JSON object.
pub fn from_item(item: &Item) -> Result<Value, MalformedItem> {
    let mut map = Map::with_capacity(item.len());
    for (key, value) in item {
        map.insert(key.clone(), from_attribute(value)?);
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_round_trips_through_attribute_values() {
        let value = json!({
            "orderId": "x", "total": 3998, "neg": -1, "ratio": 0.5, "flag": true, "none": null,
            "customer": { "id": "c" }, "items": [ { "sku": "A", "quantity": 2 } ]
        });
        assert_eq!(from_attribute(&to_attribute(&value)).expect("round trip"), value);
    }

    #[test]
    fn typed_reads_name_the_attribute_that_is_wrong() {
        let at = DateTime::from_timestamp_millis(1_795_000_000_123).expect("time");
        let item: Item = HashMap::from([
            ("name".to_owned(), s("ada")),
            ("count".to_owned(), n(42)),
            ("at".to_owned(), timestamp(at)),
        ]);
        assert_eq!(item.string("name"), Ok("ada"));
        assert_eq!(item.number::<u32>("count"), Ok(42));
        assert_eq!(item.time("at"), Ok(at));
        assert_eq!(item.get("at"), Some(&s("2026-11-18T11:06:40.123Z")));
        assert_eq!(item.optional_string("absent"), None);
        assert_eq!(item.number::<u8>("name").unwrap_err().to_string(), "stored item: attribute `name` is not a number");
        assert_eq!(item.number::<i8>("count"), Ok(42));
        assert_eq!(item.number::<u8>("big"), Err(MalformedItem::new("big", "is missing")));
        assert_eq!(item.string("absent").unwrap_err().problem, "is missing");
        assert!(item.parsed::<u32>("name").unwrap_err().problem.contains("\"ada\""));
    }
}
