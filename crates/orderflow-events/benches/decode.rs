//! Decoding throughput of a typical OrderPlaced envelope (the contract's example), delivered raw and
//! wrapped in an SNS notification, and of the lifecycle's events (the same dispatcher). Target: at
//! least 300k decodes per second on one core.
//! Run with `cargo bench -p orderflow-events`.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use orderflow_events::decode_message;

const RAW: &str = include_str!("../fixtures/valid/contract-example.json");
const SNS: &str = include_str!("../fixtures/valid/sns-notification.json");
/// The lifecycle's events, smallest to largest (OrderConfirmed repeats the order and its address).
const LIFECYCLE: [(&str, &str); 3] = [
    ("stock_reserved", include_str!("../fixtures/valid/stock-reserved.v1/every-item-reserved.json")),
    ("order_cancelled", include_str!("../fixtures/valid/order-cancelled.v1/timeout.json")),
    ("order_confirmed", include_str!("../fixtures/valid/order-confirmed.v1/with-shipping-address.json")),
];

fn decode(c: &mut Criterion) {
    // Fail loudly rather than benchmark the error path.
    for body in [RAW, SNS].into_iter().chain(LIFECYCLE.map(|(_, body)| body)) {
        if let Err(error) = decode_message(body) {
            panic!("benchmark input does not decode: {error}");
        }
    }
    let mut group = c.benchmark_group("decode_order_placed_v1");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw", |b| b.iter(|| decode_message(black_box(RAW))));
    group.bench_function("sns_wrapped", |b| b.iter(|| decode_message(black_box(SNS))));
    group.finish();

    let mut group = c.benchmark_group("decode_lifecycle_v1");
    group.throughput(Throughput::Elements(1));
    for (name, body) in LIFECYCLE {
        group.bench_function(name, |b| b.iter(|| decode_message(black_box(body))));
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
