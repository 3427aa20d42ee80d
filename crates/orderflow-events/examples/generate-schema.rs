//! Regenerates the checked-in JSON Schemas from the types:
//! `cargo run -p orderflow-events --example generate-schema` (or `make schemas`).
// A developer tool run by hand or by make: a failure ends it with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, _, schema) in orderflow_events::all_schemas() {
        let path = root.join(&file);
        let text = match serde_json::to_string_pretty(&schema) {
            Ok(text) => text + "\n",
            Err(error) => {
                eprintln!("cannot serialise the schema of {file}: {error}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(error) = std::fs::write(&path, text) {
            eprintln!("cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
