//! Throughput of the batch core: 10-message batches of OrderPlaced (raw delivery bodies), the
//! in-memory idempotency store and a handler that does nothing, on a single-threaded runtime.
//! What remains is the core's own cost: decoding, lanes, spans, idempotency, metrics.
//!
//! The machine this runs on is shared with other builds, so wall time mostly measures their load.
//! The `cpu` group therefore measures this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`): events per
//! CPU-second on one core, which is what the target is about. The `wall` group is the usual one.
//!
//! `cargo bench -p orderflow-consumer --no-default-features --bench batch`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The one unsafe call: libc::clock_gettime for the thread CPU time.
#![allow(unsafe_code)]

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use orderflow_consumer::testing::{order_placed, sqs_event, sqs_message};
use orderflow_consumer::{BatchProcessor, ConsumerConfig, EventHandler, HandlerError, InMemoryIdempotencyStore};
use orderflow_events::{OrderEvent, decode_message};

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

fn bench<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|error| panic!("{error}"));
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(BATCH_SIZE as u64));

    // New events every batch: decode, claim, handle, complete.
    group.bench_function("new_events", |b| {
        b.iter_batched(
            || (processor(Arc::new(InMemoryIdempotencyStore::new())), batch()),
            |(processor, event)| runtime.block_on(processor.process(event)),
            BatchSize::SmallInput,
        )
    });

    // The events crate's decoding alone, for the same bodies: the floor under the core's cost.
    let bodies: Vec<String> = batch().records.into_iter().filter_map(|record| record.body).collect();
    group.bench_function("decode_only", |b| {
        b.iter(|| {
            for body in &bodies {
                let _ = std::hint::black_box(decode_message(std::hint::black_box(body)));
            }
        })
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

fn wall(c: &mut Criterion) {
    bench(c, "wall/batch_of_10");
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    bench(c, "cpu/batch_of_10");
}

/// CPU time of the current thread in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`); falls back to wall
/// time where that clock is unavailable.
struct ThreadCpuTime;

fn thread_cpu_ns() -> Option<u64> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return None;
    }
    Some(u64::try_from(now.tv_sec).ok()? * 1_000_000_000 + u64::try_from(now.tv_nsec).ok()?)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = (Option<u64>, std::time::Instant);
    type Value = u64;

    fn start(&self) -> Self::Intermediate {
        (thread_cpu_ns(), std::time::Instant::now())
    }

    fn end(&self, (cpu, wall): Self::Intermediate) -> u64 {
        match (cpu, thread_cpu_ns()) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => u64::try_from(wall.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }

    fn add(&self, v1: &u64, v2: &u64) -> u64 {
        v1 + v2
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, like wall time: reuse its formatter.
        static WALL_TIME: WallTime = WallTime;
        WALL_TIME.formatter()
    }
}

criterion_group!(wall_benches, wall);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion_main!(wall_benches, cpu_benches);
