//! Contract tests of `orderflow-events`: the checked-in JSON Schema, the golden fixtures, encode/decode
//! round trips and the AsyncAPI document. One test binary (not one per file) to keep links few on a
//! shared build machine.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod asyncapi;
mod fixtures;
mod roundtrip;
mod schema;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A path inside the `events/` crate.
pub fn crate_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The checked-in schema as a validator (draft 2020-12, with `format` asserted, not just annotated).
pub fn checked_in_validator() -> jsonschema::Validator {
    let path = crate_path(orderflow_events::ORDER_PLACED_V1_SCHEMA_FILE);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the checked-in schema is JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the checked-in schema is a valid draft 2020-12 schema")
}

/// Panics with every schema violation of `instance`.
pub fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|error| format!("{} at {}", error, error.instance_path)).collect();
    assert!(errors.is_empty(), "{what} does not validate against the checked-in schema:\n{}", errors.join("\n"));
}
