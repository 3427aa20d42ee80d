//! Throughput of the batch core: 10-message batches of OrderPlaced (raw delivery bodies), the
//! in-memory idempotency store and a handler that does nothing, on a single-threaded runtime.
//! What remains is the core's own cost: decoding, lanes, spans, idempotency, metrics.
//!
//! `cargo bench -p orderflow-consumer --no-default-features --bench batch`

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use orderflow_consumer::testing::{order_placed, sqs_event, sqs_message};
use orderflow_consumer::{BatchProcessor, ConsumerConfig, EventHandler, HandlerError, InMemoryIdempotencyStore};
use orderflow_events::OrderEvent;

const BATCH_SIZE: usize = 10;

struct Noop;

#[async_trait]
impl EventHandler for Noop {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        std::hint::black_box(event.order_id());
        Ok(())
    }
}

fn processor(store: Arc<InMemoryIdempotencyStore>) -> BatchProcessor {
    BatchProcessor::new(ConsumerConfig::new("bench"), Arc::new(Noop), store)
}

fn batch() -> SqsEvent {
    let items = [("BOOK-0001", 2, 1999), ("BOOK-0002", 1, 2500), ("MUG-0001", 3, 899)];
    sqs_event(
        (0..BATCH_SIZE).map(|i| sqs_message(&format!("msg-{i}"), order_placed(&items, "EUR").to_json())).collect(),
    )
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|error| panic!("{error}"));
    let mut group = c.benchmark_group("batch_of_10");
    group.throughput(Throughput::Elements(BATCH_SIZE as u64));

    // New events every batch: decode, claim, handle, complete.
    group.bench_function("new_events", |b| {
        b.iter_batched(
            || (processor(Arc::new(InMemoryIdempotencyStore::new())), batch()),
            |(processor, event)| runtime.block_on(processor.process(event)),
            BatchSize::SmallInput,
        )
    });

    // A redelivered batch: decode and find every event already COMPLETED.
    let store = Arc::new(InMemoryIdempotencyStore::new());
    let redelivered = batch();
    let warm = processor(store.clone());
    runtime.block_on(warm.process(redelivered.clone()));
    group.bench_function("redelivered_duplicates", |b| {
        b.iter_batched(|| redelivered.clone(), |event| runtime.block_on(warm.process(event)), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
