//! Contract tests of `orderflow-events`: the checked-in JSON Schemas, the golden fixtures, encode/decode
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

/// A path inside the `orderflow-events` crate.
pub fn crate_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A checked-in schema file (relative to the crate root), parsed.
pub fn checked_in_schema(file: &str) -> Value {
    let path = crate_path(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read {}: {error}; create it with `cargo run -p orderflow-events --example generate-schema`",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("the checked-in {file} is not JSON: {error}"))
}

/// The checked-in schema `file` as a validator (draft 2020-12, with `format` asserted, not just
/// annotated).
pub fn validator_for(file: &str) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&checked_in_schema(file))
        .unwrap_or_else(|error| panic!("{file} is not a valid draft 2020-12 schema: {error}"))
}

/// The checked-in OrderPlaced v1 schema as a validator.
pub fn checked_in_validator() -> jsonschema::Validator {
    validator_for(orderflow_events::ORDER_PLACED_V1_SCHEMA_FILE)
}

/// The checked-in file of the schema of CloudEvents type `cloudevents_type`, from `all_schemas()`.
pub fn schema_file_of(cloudevents_type: &str) -> String {
    orderflow_events::all_schemas()
        .into_iter()
        .find(|(_, ty, _)| *ty == cloudevents_type)
        .map(|(file, _, _)| file)
        .unwrap_or_else(|| panic!("no schema in all_schemas() for {cloudevents_type}"))
}

/// Panics with every schema violation of `instance`.
pub fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|error| format!("{} at {}", error, error.instance_path)).collect();
    assert!(errors.is_empty(), "{what} does not validate against its checked-in schema:\n{}", errors.join("\n"));
}

/// A fixture file, as text.
pub fn read_fixture(relative: &str) -> String {
    let path = crate_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}
