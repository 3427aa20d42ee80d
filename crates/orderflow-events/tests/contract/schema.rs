use serde_json::{Value, json};

use crate::crate_path;

const REGENERATE: &str = "cargo run -p orderflow-events --example generate-schema";

fn checked_in() -> Value {
    let path = crate_path(orderflow_events::ORDER_PLACED_V1_SCHEMA_FILE);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}; create it with `{REGENERATE}`", path.display()));
    serde_json::from_str(&text).expect("the checked-in schema is JSON")
}

/// The file other teams read must be exactly what the types say. Compared as JSON values, so key
/// order (which depends on serde_json features unified into the build) does not matter.
#[test]
fn checked_in_schema_matches_the_types() {
    let generated = serde_json::to_value(orderflow_events::order_placed_v1_schema()).expect("schema is JSON");
    assert!(
        generated == checked_in(),
        "events/{} has drifted from the types. Regenerate it with `{REGENERATE}` and review the diff: \
         within v1 only additive, optional changes are allowed (see events/README.md).",
        orderflow_events::ORDER_PLACED_V1_SCHEMA_FILE
    );
}

/// The generated schema says what the contract says, not just what the Rust types happen to be.
#[test]
fn schema_is_precise() {
    let schema = checked_in();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let properties = &schema["properties"];
    assert_eq!(properties["specversion"]["const"], "1.0");
    assert_eq!(properties["type"]["const"], orderflow_events::ORDER_PLACED_V1_TYPE);
    assert_eq!(properties["datacontenttype"]["const"], "application/json");
    assert_eq!(properties["id"]["format"], "uuid");
    assert_eq!(properties["time"]["format"], "date-time");
    let mut required: Vec<&str> =
        schema["required"].as_array().expect("required").iter().filter_map(Value::as_str).collect();
    required.sort_unstable();
    assert_eq!(required, ["data", "datacontenttype", "id", "source", "specversion", "subject", "time", "type"]);
    // Unknown fields are ignored by consumers, so the schema must not forbid them anywhere.
    assert!(!schema.to_string().contains("\"additionalProperties\":false"));

    let defs = &schema["$defs"];
    let data = &defs["OrderPlacedV1"];
    assert_eq!(data["properties"]["items"]["minItems"], 1);
    assert_eq!(data["properties"]["orderId"]["format"], "uuid");
    assert_eq!(data["properties"]["placedAt"]["format"], "date-time");
    let mut data_required: Vec<&str> =
        data["required"].as_array().expect("required").iter().filter_map(Value::as_str).collect();
    data_required.sort_unstable();
    assert_eq!(data_required, ["customer", "items", "orderId", "placedAt", "total"]);
    assert_eq!(defs["LineItem"]["properties"]["quantity"]["minimum"], 1);
    assert_eq!(defs["Currency"]["pattern"], "^[A-Z]{3}$");
    assert_eq!(defs["Money"]["properties"]["amount"]["type"], "integer");
    let customer_required = &defs["Customer"]["required"];
    assert_eq!(customer_required, &json!(["id", "email"]));
}

/// What the schema can express, it rejects: it is not a rubber stamp.
#[test]
fn schema_rejects_what_it_can_express() {
    let validator = crate::checked_in_validator();
    let example: Value =
        serde_json::from_str(include_str!("../../fixtures/valid/contract-example.json")).expect("fixture is JSON");
    type Breakage = (&'static str, fn(&mut Value));
    let breakages: [Breakage; 8] = [
        ("specversion 0.3", |e| e["specversion"] = json!("0.3")),
        ("type v2", |e| e["type"] = json!("orders.OrderPlaced.v2")),
        ("id not a uuid", |e| e["id"] = json!("evt-1")),
        ("time without offset", |e| e["time"] = json!("2026-11-23T18:30:00")),
        ("no items", |e| e["data"]["items"] = json!([])),
        ("quantity 0", |e| e["data"]["items"][0]["quantity"] = json!(0)),
        ("float amount", |e| e["data"]["total"]["amount"] = json!(39.98)),
        ("lower-case currency", |e| e["data"]["total"]["currency"] = json!("eur")),
    ];
    for (what, break_it) in breakages {
        let mut event = example.clone();
        break_it(&mut event);
        assert!(!validator.is_valid(&event), "the schema accepts an event with {what}");
    }
}
