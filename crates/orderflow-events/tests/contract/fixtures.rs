//! Golden fixtures. `fixtures/valid/` holds published examples of every event: they must parse
//! FOREVER. This is the backward-compatibility check of the contract: never edit or delete a valid
//! fixture to make a change pass; a change that breaks one is a breaking change and needs a new
//! version (see crates/orderflow-events/README.md).
//!
//! Layout: `fixtures/valid/*.json` are OrderPlaced v1 (the first event, before there were others);
//! `fixtures/valid/<schema>/*.json` are events of the type whose checked-in schema is
//! `schemas/<schema>.schema.json` (e.g. `stock-reserved.v1/`). Each is validated against the schema
//! of its own type. `fixtures/invalid/<kind>--<what>.json` (any type) must be rejected with
//! `<kind>`, the `DecodeErrorKind::as_str()` name.

use std::collections::BTreeSet;
use std::path::PathBuf;

use orderflow_events::{
    CancellationReason, DecodeErrorKind, Delivery, ORDER_PLACED_V1_SCHEMA_FILE, OrderEvent, StockRejectionReason,
    all_schemas, decode_message,
};
use serde_json::Value;

use crate::{assert_valid, crate_path, read_fixture, validator_for};

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

/// The `.json` files directly in `dir` (relative to the crate), as (name relative to the crate, path).
fn json_files(dir: &str) -> Vec<(String, PathBuf)> {
    let full = crate_path(dir);
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&full)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", full.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| (format!("{dir}/{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()), path))
        .collect();
    files.sort();
    files
}

/// A valid fixture and the schema file of the type it must be.
struct ValidFixture {
    name: String,
    path: PathBuf,
    schema_file: String,
}

/// Every valid fixture: the top level (OrderPlaced v1) and one folder per other schema. A folder
/// that names no schema of `all_schemas()`, or a file that is not JSON, fails the test rather than
/// being skipped (a fixture nobody checks protects nothing).
fn valid_fixtures() -> Vec<ValidFixture> {
    let schema_files: BTreeSet<String> = all_schemas().into_iter().map(|(file, _, _)| file).collect();
    let mut fixtures: Vec<ValidFixture> = json_files("fixtures/valid")
        .into_iter()
        .map(|(name, path)| ValidFixture { name, path, schema_file: ORDER_PLACED_V1_SCHEMA_FILE.to_owned() })
        .collect();
    let root = crate_path("fixtures/valid");
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(&root).expect("fixtures/valid").map(|entry| entry.expect("entry").path()).collect();
    entries.sort();
    for entry in entries {
        let file_name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if entry.is_file() {
            assert!(file_name.ends_with(".json"), "fixtures/valid/{file_name} is not a .json fixture");
            continue;
        }
        let schema_file = format!("schemas/{file_name}.schema.json");
        assert!(
            schema_files.contains(&schema_file),
            "fixtures/valid/{file_name}/ names no schema of all_schemas() ({schema_file})"
        );
        let dir = format!("fixtures/valid/{file_name}");
        for sub in std::fs::read_dir(crate_path(&dir)).expect("fixture folder") {
            let sub = sub.expect("entry").path();
            assert!(
                sub.is_file() && sub.extension().is_some_and(|ext| ext == "json"),
                "{} is not a .json fixture (folders go one level deep)",
                sub.display()
            );
        }
        let files = json_files(&dir);
        assert!(!files.is_empty(), "{dir}/ is empty");
        fixtures.extend(files.into_iter().map(|(name, path)| ValidFixture {
            name,
            path,
            schema_file: schema_file.clone(),
        }));
    }
    fixtures
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// The schema describes the CloudEvent itself; for an SNS notification that is its `Message`.
fn cloud_event_of(body: &str, delivery: Delivery, name: &str) -> Value {
    let json: Value = serde_json::from_str(body).expect("valid fixture is JSON");
    if json["Type"] == "Notification" {
        assert_eq!(delivery, Delivery::SnsNotification, "{name}");
        serde_json::from_str(json["Message"].as_str().expect("Message is a string")).expect("Message is JSON")
    } else {
        assert_eq!(delivery, Delivery::Raw, "{name}");
        json
    }
}

fn decode_all_valid() -> Vec<(String, OrderEvent)> {
    valid_fixtures()
        .into_iter()
        .map(|fixture| {
            let (event, _) = decode_message(&read(&fixture.path))
                .unwrap_or_else(|error| panic!("valid fixture {} is rejected: {error}", fixture.name));
            (fixture.name, event)
        })
        .collect()
}

#[test]
fn every_valid_fixture_decodes_validates_against_its_own_schema_and_re_encodes() {
    let schemas = all_schemas();
    for fixture in valid_fixtures() {
        let name = &fixture.name;
        let body = read(&fixture.path);
        let (event, delivery) =
            decode_message(&body).unwrap_or_else(|error| panic!("valid fixture {name} is rejected: {error}"));

        // The folder says which type the fixture is; the decoded event must be that type.
        let (_, expected_type, _) =
            schemas.iter().find(|(file, _, _)| *file == fixture.schema_file).expect("schema of the folder");
        assert_eq!(event.event_type(), *expected_type, "{name} is in the folder of another type");

        let validator = validator_for(&fixture.schema_file);
        let cloud_event = cloud_event_of(&body, delivery, name);
        assert_valid(&validator, &cloud_event, &format!("valid fixture {name}"));
        assert_eq!(event.id().to_string(), cloud_event["id"], "{name}");
        assert_eq!(event.order_id().to_string(), cloud_event["data"]["orderId"], "{name}");
        assert_eq!(event.order_id().to_string(), cloud_event["subject"], "{name}");

        // What a consumer decoded, re-published, is still the same event and still valid.
        let encoded = event.to_json();
        assert_valid(&validator, &serde_json::from_str(&encoded).expect("JSON"), &format!("{name} re-encoded"));
        let (again, _) = decode_message(&encoded).unwrap_or_else(|error| panic!("{name} re-encoded: {error}"));
        assert_eq!(again, event, "{name}");
    }
}

/// Every event of the contract has published examples, raw and SNS-wrapped somewhere, and every
/// closed set of reasons is covered value by value.
#[test]
fn valid_fixtures_cover_every_event_and_every_reason() {
    let events = decode_all_valid();
    for (_, cloudevents_type, _) in all_schemas() {
        assert!(
            events.iter().any(|(_, event)| event.event_type() == cloudevents_type),
            "no valid fixture of {cloudevents_type}"
        );
    }
    let sns_wrapped = valid_fixtures()
        .iter()
        .filter(|fixture| decode_message(&read(&fixture.path)).is_ok_and(|(_, d)| d == Delivery::SnsNotification))
        .count();
    assert!(sns_wrapped >= 4, "too few SNS-wrapped valid fixtures: {sns_wrapped}");

    let rejections: BTreeSet<&str> = events
        .iter()
        .filter_map(|(_, event)| match event {
            OrderEvent::StockRejectedV1(event) => Some(event.data().reason().as_str()),
            _ => None,
        })
        .collect();
    for reason in [StockRejectionReason::OutOfStock, StockRejectionReason::UnknownSku] {
        assert!(rejections.contains(reason.as_str()), "no StockRejected fixture with reason {reason}");
    }
    let cancellations: Vec<CancellationReason> = events
        .iter()
        .filter_map(|(_, event)| match event {
            OrderEvent::OrderCancelledV1(event) => Some(event.data().reason()),
            _ => None,
        })
        .collect();
    for reason in CancellationReason::ALL {
        assert!(cancellations.contains(&reason), "no OrderCancelled fixture with reason {reason}");
    }

    // shippingAddress is optional: OrderPlaced and OrderConfirmed have examples with and without.
    let placed: Vec<bool> = events
        .iter()
        .filter_map(|(_, e)| match e {
            OrderEvent::OrderPlacedV1(e) => Some(e.data().shipping_address().is_some()),
            _ => None,
        })
        .collect();
    let confirmed: Vec<bool> = events
        .iter()
        .filter_map(|(_, e)| match e {
            OrderEvent::OrderConfirmedV1(e) => Some(e.data().shipping_address().is_some()),
            _ => None,
        })
        .collect();
    for (what, seen) in [("OrderPlaced", placed), ("OrderConfirmed", confirmed)] {
        assert!(seen.contains(&true) && seen.contains(&false), "{what}: fixtures with and without shippingAddress");
    }
}

#[test]
fn every_invalid_fixture_is_rejected_with_its_kind() {
    let kinds = all_kinds();
    let mut seen = Vec::new();
    let files = json_files("fixtures/invalid");
    assert!(!files.is_empty(), "no invalid fixtures");
    for (name, path) in files {
        let file = name.trim_start_matches("fixtures/invalid/");
        let prefix = file.split_once("--").map(|(prefix, _)| prefix).unwrap_or_default();
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

/// Each new event's invariants have an invalid fixture of that event (a rule without one is a rule
/// nobody would notice being dropped).
#[test]
fn invalid_fixtures_cover_the_lifecycle_invariants() {
    let names: Vec<String> = json_files("fixtures/invalid").into_iter().map(|(name, _)| name).collect();
    for what in [
        "stock-rejected-bad-reason",
        "stock-rejected-empty-sku",
        "stock-reserved-no-items",
        "stock-reserved-duplicate-sku",
        "stock-reserved-zero-quantity",
        "payment-authorized-empty-authorization-id",
        "payment-declined-lowercase-reason",
        "order-confirmed-total-mismatch",
        "order-confirmed-mixed-currency",
        "order-cancelled-unknown-reason",
        "shipping-address-lowercase-country",
        "shipping-address-control-character",
        "shipping-address-line-break",
        "shipping-address-line-separator",
        "shipping-address-too-long",
    ] {
        let file = format!("fixtures/invalid/invalid_data--{what}.json");
        assert!(names.contains(&file), "missing invalid fixture {file}");
    }
}

/// The one fixture copied verbatim from the contract document decodes to the values it shows.
#[test]
fn contract_example_decodes_to_its_values() {
    let (event, _) = decode_message(&read_fixture("fixtures/valid/contract-example.json")).expect("decodes");
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
    assert!(data.shipping_address().is_none());
}

/// Non-UTC offsets name the same instant; the decoder normalises them to UTC.
#[test]
fn offsets_are_normalised_to_utc() {
    let (event, _) = decode_message(&read_fixture("fixtures/valid/non-utc-offsets.json")).expect("decodes");
    let OrderEvent::OrderPlacedV1(placed) = &event else { panic!("unexpected variant") };
    assert_eq!(placed.time().to_rfc3339(), "2026-11-23T18:30:00.123+00:00");
    assert_eq!(placed.data().placed_at().to_rfc3339(), "2026-11-23T18:30:00.120+00:00");
}

/// The additive change, end to end: an OrderPlaced with `shippingAddress` decodes to it, and the same
/// event without the field (what every producer sent before) is the same order with no address.
#[test]
fn shipping_address_is_an_additive_optional_field() {
    let body = read_fixture("fixtures/valid/with-shipping-address.json");
    let (event, _) = decode_message(&body).expect("decodes");
    let OrderEvent::OrderPlacedV1(placed) = &event else { panic!("unexpected variant") };
    let address = placed.data().shipping_address().expect("shippingAddress");
    assert_eq!(
        (address.line1(), address.line2(), address.city(), address.postal_code(), address.country()),
        ("12 Analytical Row", Some("Flat 3"), "London", "NW1 6XE", "GB")
    );

    let mut without: Value = serde_json::from_str(&body).expect("JSON");
    without["data"].as_object_mut().expect("data").remove("shippingAddress");
    let (old, _) = decode_message(&without.to_string()).expect("an event without the field decodes");
    let OrderEvent::OrderPlacedV1(old) = &old else { panic!("unexpected variant") };
    assert!(old.data().shipping_address().is_none());
    assert_eq!(old.data().items(), placed.data().items());
    assert_eq!(old.data().total(), placed.data().total());
    // Absent stays absent when re-published: no `"shippingAddress": null` appears.
    assert!(!old.to_json().contains("shippingAddress"));

    let (no_line2, _) =
        decode_message(&read_fixture("fixtures/valid/with-shipping-address-no-line2.json")).expect("decodes");
    let OrderEvent::OrderPlacedV1(no_line2) = &no_line2 else { panic!("unexpected variant") };
    let address = no_line2.data().shipping_address().expect("shippingAddress");
    assert_eq!((address.line2(), address.city(), address.country()), (None, "Zürich", "CH"));
}

/// The lifecycle fixtures decode to the values they show.
#[test]
fn lifecycle_fixtures_decode_to_their_values() {
    let decode = |file: &str| decode_message(&read_fixture(file)).expect(file).0;

    let OrderEvent::StockReservedV1(reserved) = decode("fixtures/valid/stock-reserved.v1/every-item-reserved.json")
    else {
        panic!("unexpected variant")
    };
    assert_eq!(reserved.source(), orderflow_events::INVENTORY_SOURCE);
    let lines: Vec<(&str, u32)> = reserved.data().items().iter().map(|l| (l.sku.as_str(), l.quantity)).collect();
    assert_eq!(lines, [("BOOK-0001", 2), ("PEN-0042", 1)]);
    assert!(reserved.traceparent().is_some());

    let OrderEvent::StockRejectedV1(rejected) = decode("fixtures/valid/stock-rejected.v1/unknown-sku.json") else {
        panic!("unexpected variant")
    };
    assert_eq!((rejected.data().reason(), rejected.data().sku()), (StockRejectionReason::UnknownSku, "NOPE-9999"));

    let OrderEvent::PaymentAuthorizedV1(authorized) = decode("fixtures/valid/payment-authorized.v1/authorized.json")
    else {
        panic!("unexpected variant")
    };
    assert_eq!(authorized.source(), orderflow_events::BILLING_SOURCE);
    assert_eq!(authorized.data().amount().amount, 4348);
    assert_eq!(authorized.data().authorization_id(), "auth_0193a5d27c1d70008000012345");

    let OrderEvent::PaymentDeclinedV1(declined) = decode("fixtures/valid/payment-declined.v1/limit-exceeded.json")
    else {
        panic!("unexpected variant")
    };
    assert_eq!(declined.data().reason(), &orderflow_events::DeclineReason::limit_exceeded());

    let OrderEvent::OrderConfirmedV1(confirmed) =
        decode("fixtures/valid/order-confirmed.v1/with-shipping-address.json")
    else {
        panic!("unexpected variant")
    };
    assert_eq!(confirmed.source(), orderflow_events::ORDER_SERVICE_SOURCE);
    assert_eq!(confirmed.data().total().amount, 4348);
    assert_eq!(confirmed.data().shipping_address().map(|a| a.country()), Some("GB"));

    // Each cancellation fixture is named after its reason.
    for fixture in valid_fixtures().iter().filter(|f| f.name.starts_with("fixtures/valid/order-cancelled.v1/")) {
        let OrderEvent::OrderCancelledV1(cancelled) = decode(&fixture.name) else { panic!("unexpected variant") };
        let file = fixture.name.rsplit('/').next().unwrap_or_default();
        if file != "sns-notification.json" {
            let reason = cancelled.data().reason().as_str().to_lowercase().replace('_', "-");
            assert_eq!(file, format!("{reason}.json"), "{}", fixture.name);
        }
        assert_eq!(cancelled.data().total().amount, 4348);
    }
}
