//! Regenerates the checked-in JSON Schema from the types:
//! `cargo run -p orderflow-events --example generate-schema`.
// A developer tool run by hand or by make: a failure ends it with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(orderflow_events::ORDER_PLACED_V1_SCHEMA_FILE);
    let schema = orderflow_events::order_placed_v1_schema();
    let text = match serde_json::to_string_pretty(&schema) {
        Ok(text) => text + "\n",
        Err(error) => {
            eprintln!("cannot serialise the schema: {error}");
            return ExitCode::FAILURE;
        }
    };
    match std::fs::write(&path, text) {
        Ok(()) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cannot write {}: {error}", path.display());
            ExitCode::FAILURE
        }
    }
}
