//! Golden fixtures. `fixtures/valid/*.json` are published examples of v1: they must parse FOREVER.
//! This is the backward-compatibility check of the contract: never edit or delete a valid fixture
//! to make a change pass; a change that breaks one is a breaking change and needs a v2 (see
//! events/README.md). `fixtures/invalid/<kind>--<what>.json` must be rejected with `<kind>`, the
//! `DecodeErrorKind::as_str()` name.

use std::path::PathBuf;

use orderflow_events::{DecodeErrorKind, Delivery, OrderEvent, decode_message};
use serde_json::Value;

use crate::{assert_valid, checked_in_validator, crate_path};

/// Every kind, so a fixture's prefix can be mapped back. The match makes adding a kind without
/// listing it here a compile error.
fn all_kinds() -> Vec<DecodeErrorKind> {
    let kinds = [
        DecodeErrorKind::NotJson,
        DecodeErrorKind::NotAnEnvelope,
        DecodeErrorKind::UnsupportedSpecVersion,
        DecodeErrorKind::UnknownEventType,
        DecodeErrorKind::InvalidData,
    ];
    for kind in kinds {
        match kind {
            DecodeErrorKind::NotJson
            | DecodeErrorKind::NotAnEnvelope
            | DecodeErrorKind::UnsupportedSpecVersion
            | DecodeErrorKind::UnknownEventType
            | DecodeErrorKind::InvalidData => {}
        }
    }
    kinds.to_vec()
}

fn fixtures(dir: &str) -> Vec<(String, PathBuf)> {
    let dir = crate_path(dir);
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| (path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), path))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

#[test]
fn every_valid_fixture_decodes_validates_and_re_encodes() {
    let validator = checked_in_validator();
    for (name, path) in fixtures("fixtures/valid") {
        let body = read(&path);
        let (event, delivery) =
            decode_message(&body).unwrap_or_else(|error| panic!("valid fixture {name} is rejected: {error}"));

        // The schema describes the CloudEvent itself; for an SNS notification that is its Message.
        let json: Value = serde_json::from_str(&body).expect("valid fixture is JSON");
        let cloud_event = if json["Type"] == "Notification" {
            assert_eq!(delivery, Delivery::SnsNotification, "{name}");
            serde_json::from_str(json["Message"].as_str().expect("Message is a string")).expect("Message is JSON")
        } else {
            assert_eq!(delivery, Delivery::Raw, "{name}");
            json
        };
        assert_valid(&validator, &cloud_event, &format!("valid fixture {name}"));
        assert_eq!(event.id().to_string(), cloud_event["id"], "{name}");
        assert_eq!(event.order_id().to_string(), cloud_event["data"]["orderId"], "{name}");

        // What a consumer decoded, re-published, is still the same event and still valid.
        let OrderEvent::OrderPlacedV1(placed) = &event else { panic!("{name}: unexpected variant") };
        let encoded = placed.to_json();
        assert_valid(&validator, &serde_json::from_str(&encoded).expect("JSON"), &format!("{name} re-encoded"));
        let (again, _) = decode_message(&encoded).unwrap_or_else(|error| panic!("{name} re-encoded: {error}"));
        assert_eq!(again, event, "{name}");
    }
}

#[test]
fn every_invalid_fixture_is_rejected_with_its_kind() {
    let kinds = all_kinds();
    let mut seen = Vec::new();
    for (name, path) in fixtures("fixtures/invalid") {
        let prefix = name.split_once("--").map(|(prefix, _)| prefix).unwrap_or_default();
        let expected =
            kinds.iter().copied().find(|kind| kind.as_str() == prefix).unwrap_or_else(|| {
                panic!("invalid fixture {name} must be named <kind>--<what>.json with a known kind")
            });
        match decode_message(&read(&path)) {
            Ok((event, _)) => panic!("invalid fixture {name} is accepted: {event:?}"),
            Err(error) => assert_eq!(error.kind(), expected, "{name}: {error}"),
        }
        seen.push(expected);
    }
    for kind in kinds {
        assert!(seen.contains(&kind), "no invalid fixture for {}", kind.as_str());
    }
}

/// The one fixture copied verbatim from the contract document decodes to the values it shows.
#[test]
fn contract_example_decodes_to_its_values() {
    let (event, _) = decode_message(&read(&crate_path("fixtures/valid/contract-example.json"))).expect("decodes");
    let OrderEvent::OrderPlacedV1(placed) = &event else { panic!("unexpected variant") };
    assert_eq!(placed.source(), "order-api");
    assert_eq!(placed.time().to_rfc3339(), "2026-11-23T18:30:00.123+00:00");
    assert_eq!(placed.correlation_id(), Some("req-7f3c2a"));
    let data = placed.data();
    assert_eq!(data.customer().name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(data.items().len(), 1);
    assert_eq!(data.items()[0].quantity, 2);
    assert_eq!(data.total().amount, 3998);
    assert_eq!(data.currency().as_str(), "EUR");
}

/// Non-UTC offsets name the same instant; the decoder normalises them to UTC.
#[test]
fn offsets_are_normalised_to_utc() {
    let (event, _) = decode_message(&read(&crate_path("fixtures/valid/non-utc-offsets.json"))).expect("decodes");
    let OrderEvent::OrderPlacedV1(placed) = &event else { panic!("unexpected variant") };
    assert_eq!(placed.time().to_rfc3339(), "2026-11-23T18:30:00.123+00:00");
    assert_eq!(placed.data().placed_at().to_rfc3339(), "2026-11-23T18:30:00.120+00:00");
}
