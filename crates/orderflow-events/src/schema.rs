//! The JSON Schemas of the events, generated from the types.
//!
//! The checked-in copies (`schemas/<event>.v1.schema.json`) are what other teams and the AsyncAPI
//! document read; a test fails when one drifts from what [`all_schemas`] generates.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};

use crate::envelope::{CloudEvent, EventData};
use crate::{
    OrderCancelledV1, OrderConfirmedV1, OrderPlacedV1, PaymentAuthorizedV1, PaymentDeclinedV1, StockRejectedV1,
    StockReservedV1,
};

/// Path of the checked-in OrderPlaced v1 schema, relative to the crate root.
pub const ORDER_PLACED_V1_SCHEMA_FILE: &str = "schemas/order-placed.v1.schema.json";

/// Implements `JsonSchema` for a checked type by describing its unchecked wire shape, which is
/// what a decoder reads.
macro_rules! schema_via_wire {
    ($checked:ty, $wire:ty) => {
        impl schemars::JsonSchema for $checked {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                <$wire as schemars::JsonSchema>::schema_name()
            }
            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                <$wire as schemars::JsonSchema>::json_schema(generator)
            }
        }
    };
}
pub(crate) use schema_via_wire;

/// The JSON Schema (draft 2020-12) of the CloudEvent carrying `D`, as the decoder reads it:
/// optional fields may be absent and unknown fields are allowed (consumers ignore them). Some
/// invariants cannot be said in JSON Schema (totals, unique SKUs, `subject` = `data.orderId`);
/// the decoder checks those too.
pub fn event_schema<D: EventData + JsonSchema>() -> Schema {
    // Deserialize view: `#[serde(default)]` fields are optional, as they are for the decoder.
    let generator = SchemaSettings::draft2020_12().for_deserialize().into_generator();
    let mut schema = generator.into_root_schema_for::<CloudEvent<D>>();
    schema.insert("title".into(), D::CLOUDEVENTS_TYPE.into());
    schema.insert(
        "description".into(),
        format!(
            "A CloudEvents 1.0 envelope (JSON structured mode) carrying {} v{} data. Generated from the \
             orderflow-events types: do not edit by hand.",
            D::EVENT_TYPE,
            D::EVENT_VERSION
        )
        .into(),
    );
    schema
}

/// The schema of an `orders.OrderPlaced.v1` CloudEvent.
pub fn order_placed_v1_schema() -> Schema {
    event_schema::<OrderPlacedV1>()
}

/// The checked-in file of the schema of `D`: `schemas/<kebab-type>.v<version>.schema.json`.
pub fn schema_file<D: EventData>() -> String {
    let mut kebab = String::new();
    for (index, c) in D::EVENT_TYPE.char_indices() {
        if c.is_ascii_uppercase() && index > 0 {
            kebab.push('-');
        }
        kebab.push(c.to_ascii_lowercase());
    }
    format!("schemas/{kebab}.v{}.schema.json", D::EVENT_VERSION)
}

fn entry<D: EventData + JsonSchema>() -> (String, &'static str, Schema) {
    (schema_file::<D>(), D::CLOUDEVENTS_TYPE, event_schema::<D>())
}

/// Every event's (checked-in file, CloudEvents type, schema), in contract order.
pub fn all_schemas() -> Vec<(String, &'static str, Schema)> {
    vec![
        entry::<OrderPlacedV1>(),
        entry::<StockReservedV1>(),
        entry::<StockRejectedV1>(),
        entry::<PaymentAuthorizedV1>(),
        entry::<PaymentDeclinedV1>(),
        entry::<OrderConfirmedV1>(),
        entry::<OrderCancelledV1>(),
    ]
}
