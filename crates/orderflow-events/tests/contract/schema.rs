//! The checked-in JSON Schemas: exactly what the types generate (one per event), precise about
//! what the contract says, and not rubber stamps.

use std::collections::BTreeSet;

use orderflow_events::{CancellationReason, all_schemas};
use serde_json::{Value, json};

use crate::{checked_in_schema, crate_path, read_fixture, schema_file_of, validator_for};

const REGENERATE: &str = "cargo run -p orderflow-events --example generate-schema";

/// The files other teams read must be exactly what the types say, for every event. Compared as
/// JSON values, so key order (which depends on serde_json features unified into the build) does
/// not matter.
#[test]
fn every_checked_in_schema_matches_the_types() {
    let mut drifted = Vec::new();
    for (file, _, schema) in all_schemas() {
        let generated = serde_json::to_value(&schema).expect("schema is JSON");
        if generated != checked_in_schema(&file) {
            drifted.push(file);
        }
    }
    assert!(
        drifted.is_empty(),
        "crates/orderflow-events/{{{}}} drifted from the types. Regenerate with `{REGENERATE}` and review the \
         diff: within a version only additive, optional changes are allowed (see crates/orderflow-events/README.md).",
        drifted.join(", ")
    );
}

/// No schema file outlives its type, and no two events share a file or a type.
#[test]
fn schemas_folder_holds_exactly_the_generated_files() {
    let generated: Vec<String> = all_schemas().into_iter().map(|(file, _, _)| file).collect();
    let unique: BTreeSet<&String> = generated.iter().collect();
    assert_eq!(unique.len(), generated.len(), "two events share a schema file: {generated:?}");
    let types: BTreeSet<&str> = all_schemas().into_iter().map(|(_, ty, _)| ty).collect();
    assert_eq!(types.len(), generated.len(), "two schemas for one CloudEvents type");
    assert!(generated.contains(&orderflow_events::ORDER_PLACED_V1_SCHEMA_FILE.to_owned()));

    let mut on_disk: Vec<String> = std::fs::read_dir(crate_path("schemas"))
        .expect("schemas/")
        .map(|entry| format!("schemas/{}", entry.expect("entry").file_name().to_string_lossy()))
        .collect();
    on_disk.sort();
    let mut expected = generated.clone();
    expected.sort();
    assert_eq!(on_disk, expected, "schemas/ must hold exactly the files all_schemas() generates");
}

fn sorted_strings(value: &Value) -> Vec<&str> {
    let mut strings: Vec<&str> = value.as_array().expect("an array").iter().filter_map(Value::as_str).collect();
    strings.sort_unstable();
    strings
}

/// The data definition of a schema (`data` is a `$ref` into `$defs`).
fn data_definition(schema: &Value) -> &Value {
    let reference = schema["properties"]["data"]["$ref"].as_str().expect("data is a $ref");
    let name = reference.strip_prefix("#/$defs/").expect("a local $defs reference");
    &schema["$defs"][name]
}

/// Every schema describes the same CloudEvents envelope around its own type.
#[test]
fn every_schema_describes_its_envelope() {
    for (file, cloudevents_type, _) in all_schemas() {
        let schema = checked_in_schema(&file);
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{file}");
        assert_eq!(schema["title"], cloudevents_type, "{file}");
        let properties = &schema["properties"];
        assert_eq!(properties["specversion"]["const"], "1.0", "{file}");
        assert_eq!(properties["type"]["const"], cloudevents_type, "{file}");
        assert_eq!(properties["datacontenttype"]["const"], "application/json", "{file}");
        assert_eq!(properties["id"]["format"], "uuid", "{file}");
        assert_eq!(properties["time"]["format"], "date-time", "{file}");
        assert_eq!(
            sorted_strings(&schema["required"]),
            ["data", "datacontenttype", "id", "source", "specversion", "subject", "time", "type"],
            "{file}"
        );
        // Unknown fields are ignored by consumers, so no schema may forbid them anywhere.
        assert!(!schema.to_string().contains("\"additionalProperties\":false"), "{file}");
        let data = data_definition(&schema);
        assert_eq!(data["properties"]["orderId"]["format"], "uuid", "{file}: data.orderId");
        assert!(sorted_strings(&data["required"]).contains(&"orderId"), "{file}: data.orderId is required");
    }
}

/// Each event's data requires what the contract's event table says, and nothing optional.
#[test]
fn every_schema_requires_the_contract_fields() {
    let expected: [(&str, &[&str]); 7] = [
        (orderflow_events::ORDER_PLACED_V1_TYPE, &["customer", "items", "orderId", "placedAt", "total"]),
        (orderflow_events::STOCK_RESERVED_V1_TYPE, &["items", "orderId"]),
        (orderflow_events::STOCK_REJECTED_V1_TYPE, &["orderId", "reason", "sku"]),
        (orderflow_events::PAYMENT_AUTHORIZED_V1_TYPE, &["amount", "authorizationId", "orderId"]),
        (orderflow_events::PAYMENT_DECLINED_V1_TYPE, &["amount", "orderId", "reason"]),
        (orderflow_events::ORDER_CONFIRMED_V1_TYPE, &["customer", "items", "orderId", "total"]),
        (orderflow_events::ORDER_CANCELLED_V1_TYPE, &["customer", "orderId", "reason", "total"]),
    ];
    assert_eq!(expected.len(), all_schemas().len(), "a schema without its row here");
    for (cloudevents_type, required) in expected {
        let schema = checked_in_schema(&schema_file_of(cloudevents_type));
        assert_eq!(sorted_strings(&data_definition(&schema)["required"]), required, "{cloudevents_type}");
    }
}

/// The OrderPlaced schema says what the contract says, not just what the Rust types happen to be.
#[test]
fn order_placed_schema_is_precise() {
    let schema = checked_in_schema(orderflow_events::ORDER_PLACED_V1_SCHEMA_FILE);
    let defs = &schema["$defs"];
    let data = &defs["OrderPlacedV1"];
    assert_eq!(data["properties"]["items"]["minItems"], 1);
    assert_eq!(data["properties"]["placedAt"]["format"], "date-time");
    assert_eq!(defs["LineItem"]["properties"]["quantity"]["minimum"], 1);
    assert_eq!(defs["Currency"]["pattern"], "^[A-Z]{3}$");
    assert_eq!(defs["Money"]["properties"]["amount"]["type"], "integer");
    assert_eq!(&defs["Customer"]["required"], &json!(["id", "email"]));

    // shippingAddress: optional (the additive rule), and checked when present.
    assert!(data["properties"]["shippingAddress"].is_object());
    let address = &defs["ShippingAddress"];
    assert_eq!(sorted_strings(&address["required"]), ["city", "country", "line1", "postalCode"]);
    assert_eq!(address["properties"]["country"]["pattern"], "^[A-Z]{2}$");
    for field in ["line1", "line2", "city", "postalCode"] {
        assert_eq!(address["properties"][field]["minLength"], 1, "{field}");
        assert_eq!(address["properties"][field]["maxLength"], orderflow_events::MAX_ADDRESS_FIELD_CHARS, "{field}");
    }
}

type Breakage = (&'static str, fn(&mut Value));

/// `example` broken each way is rejected by the schema at `file`.
fn assert_rejects(file: &str, example: &Value, breakages: &[Breakage]) {
    let validator = validator_for(file);
    assert!(validator.is_valid(example), "{file}: the unbroken example must validate");
    for (what, break_it) in breakages {
        let mut event = example.clone();
        break_it(&mut event);
        assert!(!validator.is_valid(&event), "{file} accepts an event with {what}");
    }
}

fn fixture(file: &str) -> Value {
    serde_json::from_str(&read_fixture(file)).expect("fixture is JSON")
}

/// What a schema can express, it rejects: none is a rubber stamp.
#[test]
fn schemas_reject_what_they_can_express() {
    assert_rejects(
        orderflow_events::ORDER_PLACED_V1_SCHEMA_FILE,
        &fixture("fixtures/valid/with-shipping-address.json"),
        &[
            ("specversion 0.3", |e| e["specversion"] = json!("0.3")),
            ("type v2", |e| e["type"] = json!("orders.OrderPlaced.v2")),
            ("id not a uuid", |e| e["id"] = json!("evt-1")),
            ("time without offset", |e| e["time"] = json!("2026-11-23T18:30:00")),
            ("no items", |e| e["data"]["items"] = json!([])),
            ("quantity 0", |e| e["data"]["items"][0]["quantity"] = json!(0)),
            ("float amount", |e| e["data"]["total"]["amount"] = json!(39.98)),
            ("lower-case currency", |e| e["data"]["total"]["currency"] = json!("eur")),
            ("lower-case country", |e| e["data"]["shippingAddress"]["country"] = json!("gb")),
            ("alpha-3 country", |e| e["data"]["shippingAddress"]["country"] = json!("GBR")),
            ("empty line1", |e| e["data"]["shippingAddress"]["line1"] = json!("")),
            ("a 101-character city", |e| e["data"]["shippingAddress"]["city"] = json!("x".repeat(101))),
            ("no postalCode", |e| {
                e["data"]["shippingAddress"].as_object_mut().expect("address").remove("postalCode");
            }),
        ],
    );
    assert_rejects(
        &schema_file_of(orderflow_events::STOCK_RESERVED_V1_TYPE),
        &fixture("fixtures/valid/stock-reserved.v1/every-item-reserved.json"),
        &[
            ("no items", |e| e["data"]["items"] = json!([])),
            ("quantity 0", |e| e["data"]["items"][0]["quantity"] = json!(0)),
            ("empty sku", |e| e["data"]["items"][0]["sku"] = json!("")),
            ("another type", |e| e["type"] = json!("inventory.StockRejected.v1")),
        ],
    );
    assert_rejects(
        &schema_file_of(orderflow_events::STOCK_REJECTED_V1_TYPE),
        &fixture("fixtures/valid/stock-rejected.v1/out-of-stock.json"),
        &[
            ("the old reason INSUFFICIENT_STOCK", |e| e["data"]["reason"] = json!("INSUFFICIENT_STOCK")),
            ("a lower-case reason", |e| e["data"]["reason"] = json!("out_of_stock")),
            ("empty sku", |e| e["data"]["sku"] = json!("")),
        ],
    );
    assert_rejects(
        &schema_file_of(orderflow_events::PAYMENT_AUTHORIZED_V1_TYPE),
        &fixture("fixtures/valid/payment-authorized.v1/authorized.json"),
        &[
            ("empty authorizationId", |e| e["data"]["authorizationId"] = json!("")),
            ("float amount", |e| e["data"]["amount"]["amount"] = json!(43.48)),
            ("no amount", |e| {
                e["data"].as_object_mut().expect("data").remove("amount");
            }),
        ],
    );
    assert_rejects(
        &schema_file_of(orderflow_events::PAYMENT_DECLINED_V1_TYPE),
        &fixture("fixtures/valid/payment-declined.v1/limit-exceeded.json"),
        &[
            ("a lower-case reason", |e| e["data"]["reason"] = json!("limit exceeded")),
            ("an empty reason", |e| e["data"]["reason"] = json!("")),
            ("a 65-character reason", |e| e["data"]["reason"] = json!("X".repeat(65))),
        ],
    );
    assert_rejects(
        &schema_file_of(orderflow_events::ORDER_CONFIRMED_V1_TYPE),
        &fixture("fixtures/valid/order-confirmed.v1/with-shipping-address.json"),
        &[
            ("no items", |e| e["data"]["items"] = json!([])),
            ("no customer email", |e| e["data"]["customer"]["email"] = json!("")),
            ("lower-case country", |e| e["data"]["shippingAddress"]["country"] = json!("gb")),
        ],
    );
    assert_rejects(
        &schema_file_of(orderflow_events::ORDER_CANCELLED_V1_TYPE),
        &fixture("fixtures/valid/order-cancelled.v1/timeout.json"),
        &[
            ("an unknown reason", |e| e["data"]["reason"] = json!("CUSTOMER_REQUEST")),
            ("a decline code as reason", |e| e["data"]["reason"] = json!("LIMIT_EXCEEDED")),
            ("no total", |e| {
                e["data"].as_object_mut().expect("data").remove("total");
            }),
        ],
    );
}

/// The closed sets are exactly the contract's: every reason it names validates.
#[test]
fn schemas_accept_every_contract_reason() {
    let stock = validator_for(&schema_file_of(orderflow_events::STOCK_REJECTED_V1_TYPE));
    let mut rejected = fixture("fixtures/valid/stock-rejected.v1/out-of-stock.json");
    for reason in ["OUT_OF_STOCK", "UNKNOWN_SKU"] {
        rejected["data"]["reason"] = json!(reason);
        assert!(stock.is_valid(&rejected), "StockRejected reason {reason}");
    }
    let cancelled_schema = validator_for(&schema_file_of(orderflow_events::ORDER_CANCELLED_V1_TYPE));
    let mut cancelled = fixture("fixtures/valid/order-cancelled.v1/timeout.json");
    for reason in CancellationReason::ALL {
        cancelled["data"]["reason"] = json!(reason.as_str());
        assert!(cancelled_schema.is_valid(&cancelled), "OrderCancelled reason {reason}");
    }
    let declined_schema = validator_for(&schema_file_of(orderflow_events::PAYMENT_DECLINED_V1_TYPE));
    let mut declined = fixture("fixtures/valid/payment-declined.v1/limit-exceeded.json");
    for reason in [orderflow_events::DeclineReason::LIMIT_EXCEEDED, "INSUFFICIENT_FUNDS", "DO_NOT_HONOR_05"] {
        declined["data"]["reason"] = json!(reason);
        assert!(declined_schema.is_valid(&declined), "PaymentDeclined reason {reason}");
    }
}
