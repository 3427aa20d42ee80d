//! Validation plus event construction, without I/O: what one POST /orders costs in CPU before
//! the DynamoDB write. Target: at least 50k requests per second on one core.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use order_api::domain::{Order, SupportedCurrencies, request_hash, validate_order};
use orderflow_outbox::OutboxEntry;
use serde_json::Value;
use uuid::Uuid;

const CONTRACT_BODY: &str = r#"{
  "customer": { "id": "cus_1001", "email": "ada@example.com", "name": "Ada Lovelace" },
  "currency": "EUR",
  "items": [ { "sku": "BOOK-0001", "quantity": 2, "unitPrice": 1999 } ]
}"#;

fn ten_item_body() -> String {
    let items: Vec<String> = (0..10)
        .map(|n| format!(r#"{{ "sku": "BOOK-{n:04}", "quantity": {}, "unitPrice": {} }}"#, n + 1, 999 + n))
        .collect();
    format!(
        r#"{{ "customer": {{ "id": "cus_1001", "email": "ada@example.com" }}, "currency": "EUR", "items": [{}] }}"#,
        items.join(",")
    )
}

/// Parse, validate, place, build the CloudEvent and its outbox entry (body JSON), render the
/// response body, and hash the request for the idempotency record: everything but the I/O.
fn place(body: &str, currencies: &SupportedCurrencies) -> (String, OutboxEntry, String) {
    let parsed: Value = serde_json::from_str(body).expect("bench bodies are JSON");
    let fields = parsed.as_object().expect("bench bodies are objects");
    let request = validate_order(fields, currencies).expect("bench bodies are valid");
    let now = Utc::now();
    let order = Order::place(request, Uuid::now_v7(), now);
    let event = order.to_event(Uuid::now_v7()).expect("valid event").with_correlation_id("req-7f3c2a");
    let entry = OutboxEntry::for_event(&event, now);
    (order.to_json(), entry, request_hash(&parsed))
}

fn bench(c: &mut Criterion) {
    let currencies = SupportedCurrencies::default();
    let ten_items = ten_item_body();
    let mut group = c.benchmark_group("place_order");
    group.throughput(Throughput::Elements(1));
    group.bench_function("contract_example_1_item", |b| b.iter(|| place(black_box(CONTRACT_BODY), &currencies)));
    group.bench_function("10_items", |b| b.iter(|| place(black_box(&ten_items), &currencies)));
    group.bench_function("validation_only_1_item", |b| {
        let parsed: Value = serde_json::from_str(CONTRACT_BODY).expect("json");
        let fields = parsed.as_object().expect("object").clone();
        b.iter(|| validate_order(black_box(&fields), &currencies))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
