//! Decoding throughput of a typical OrderPlaced envelope (the contract's example), delivered raw and
//! wrapped in an SNS notification. Target: at least 300k decodes per second on one core.
//! Run with `cargo bench -p orderflow-events`.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use orderflow_events::decode_message;

const RAW: &str = include_str!("../fixtures/valid/contract-example.json");
const SNS: &str = include_str!("../fixtures/valid/sns-notification.json");

fn decode(c: &mut Criterion) {
    // Fail loudly rather than benchmark the error path.
    for body in [RAW, SNS] {
        if let Err(error) = decode_message(body) {
            panic!("benchmark input does not decode: {error}");
        }
    }
    let mut group = c.benchmark_group("decode_order_placed_v1");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw", |b| b.iter(|| decode_message(black_box(RAW))));
    group.bench_function("sns_wrapped", |b| b.iter(|| decode_message(black_box(SNS))));
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
