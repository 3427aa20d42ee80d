//! The JSON Schema of the OrderPlaced v1 envelope, generated from the types.
//!
//! The checked-in copy (`events/schemas/order-placed.v1.schema.json`) is what other teams and the
//! AsyncAPI document read; a test fails when it drifts from what this function generates.

use schemars::Schema;
use schemars::generate::SchemaSettings;

use crate::envelope::OrderPlacedEvent;

/// Path of the checked-in schema, relative to the `events/` crate root.
pub const ORDER_PLACED_V1_SCHEMA_FILE: &str = "schemas/order-placed.v1.schema.json";

/// The JSON Schema (draft 2020-12) of an `orders.OrderPlaced.v1` CloudEvent, as the decoder reads it:
/// optional fields may be absent and unknown fields are allowed (consumers ignore them).
///
/// Some invariants cannot be said in JSON Schema (the total equals the sum of the lines, one
/// currency, unique SKUs, `subject` = `data.orderId`); the decoder checks those too.
pub fn order_placed_v1_schema() -> Schema {
    // Deserialize view: `#[serde(default)]` fields are optional, as they are for the decoder.
    let generator = SchemaSettings::draft2020_12().for_deserialize().into_generator();
    let mut schema = generator.into_root_schema_for::<OrderPlacedEvent>();
    schema.insert("title".into(), crate::ORDER_PLACED_V1_TYPE.into());
    schema.insert(
        "description".into(),
        "A CloudEvents 1.0 envelope (JSON structured mode) carrying OrderPlaced v1 data. Generated from \
         the orderflow-events types: do not edit by hand."
            .into(),
    );
    schema
}
