//! The Rust consumer core on in-memory stores, for the side-by-side with Powertools (Python).
//!
//! Input: a file of Lambda SQS event payloads, one JSON document per line (10 SNS-delivered
//! OrderPlaced v1 messages each), written by `bench/python/make_batches.py`. Per batch, exactly what
//! a deployed consumer does between the Runtime API's bytes in and bytes out: deserialize the
//! `SqsEvent`, run it through `BatchProcessor` (decode + validate each message with the events
//! crate, idempotency claim/complete on `InMemoryIdempotencyStore`, the business rule), serialize
//! the `SqsBatchResponse`. The rule is the inventory consumer's: reserve every item of the order
//! or none, record one reservation per order (here on a mutex-guarded map, like
//! `inventory::InMemoryInventoryStore`). No logging subscriber is installed (neither side logs).
//!
//! Modes (results as one JSON line on stdout):
//!   core-bench throughput FILE REPS [LIMIT_BATCHES]   one thread; every rep starts from empty stores
//!   core-bench init FILE                              "ready" after init, then processes FILE once

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use orderflow_consumer::{BatchProcessor, ConsumerConfig, EventHandler, HandlerError, InMemoryIdempotencyStore};
use orderflow_events::OrderEvent;
use uuid::Uuid;

/// Stock every SKU of the generated orders starts with: enough that every order is reserved.
const INITIAL_STOCK: i64 = 1_000_000_000;

#[derive(Default)]
struct Stock {
    /// sku -> (available, reserved)
    levels: HashMap<String, (i64, i64)>,
    /// order id -> (event id, RESERVED?)
    reservations: HashMap<Uuid, (Uuid, bool)>,
}

/// The inventory rule on memory: all items or none, one reservation record per order.
struct ReserveStock {
    stock: Mutex<Stock>,
}

impl ReserveStock {
    fn new(skus: &[&str]) -> Self {
        let mut stock = Stock::default();
        for sku in skus {
            stock.levels.insert((*sku).to_owned(), (INITIAL_STOCK, 0));
        }
        ReserveStock { stock: Mutex::new(stock) }
    }

    fn reserved_orders(&self) -> usize {
        self.stock.lock().map(|s| s.reservations.values().filter(|(_, ok)| *ok).count()).unwrap_or(0)
    }
}

#[async_trait]
impl EventHandler for ReserveStock {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        let placed = match event {
            OrderEvent::OrderPlacedV1(placed) => placed,
            _ => return Ok(()),
        };
        let order_id = placed.data().order_id();
        let items: Vec<(String, u32)> =
            placed.data().items().iter().map(|item| (item.sku.clone(), item.quantity)).collect();
        let mut state = self.stock.lock().map_err(|_| HandlerError::permanent("poisoned stock lock"))?;
        if state.reservations.contains_key(&order_id) {
            return Ok(());
        }
        let available = items.iter().all(|(sku, quantity)| {
            state.levels.get(sku).is_some_and(|(available, _)| *available >= i64::from(*quantity))
        });
        if available {
            for (sku, quantity) in &items {
                if let Some((available, reserved)) = state.levels.get_mut(sku) {
                    *available -= i64::from(*quantity);
                    *reserved += i64::from(*quantity);
                }
            }
        }
        state.reservations.insert(order_id, (placed.id(), available));
        Ok(())
    }
}

const SKUS: [&str; 4] = ["BOOK-0001", "BOOK-0002", "MUG-0001", "PEN-0001"];

fn new_processor() -> (BatchProcessor, Arc<ReserveStock>) {
    let rule = Arc::new(ReserveStock::new(&SKUS));
    let processor =
        BatchProcessor::new(ConsumerConfig::new("inventory"), rule.clone(), Arc::new(InMemoryIdempotencyStore::new()));
    (processor, rule)
}

/// Runs every payload through the processor; returns (events, failures, response bytes).
fn run_all(runtime: &tokio::runtime::Runtime, processor: &BatchProcessor, payloads: &[&str]) -> (usize, usize, usize) {
    let (mut events, mut failures, mut bytes) = (0, 0, 0);
    for payload in payloads {
        let event: SqsEvent = serde_json::from_str(payload).unwrap_or_else(|e| panic!("payload: {e}"));
        events += event.records.len();
        let outcome = runtime.block_on(processor.process(event));
        failures += outcome.response.batch_item_failures.len();
        let response = serde_json::to_string(&outcome.response).unwrap_or_default();
        bytes += std::hint::black_box(response).len();
    }
    (events, failures, bytes)
}

/// CPU time this thread has run, in seconds (`/proc/thread-self/schedstat`, nanoseconds): on a
/// shared machine, events per CPU-second is the per-core figure that other load does not dilute.
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|ns| ns.parse::<f64>().ok()))
        .map_or(f64::NAN, |ns| ns / 1e9)
}

/// Peak resident set size of this process (VmHWM), in KiB.
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: core-bench throughput FILE REPS [LIMIT_BATCHES] | core-bench init FILE";
    let mode = args.get(1).map(String::as_str).unwrap_or_else(|| panic!("{usage}"));
    let file = args.get(2).unwrap_or_else(|| panic!("{usage}"));
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("{e}"));
    match mode {
        "init" => {
            let (processor, rule) = new_processor();
            {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "ready");
                let _ = out.flush();
            }
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            let payloads: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let (events, failures, _) = run_all(&runtime, &processor, &payloads);
            println!(
                "{}",
                serde_json::json!({
                    "events": events, "failures": failures, "reserved": rule.reserved_orders(),
                    "vm_hwm_kib": vm_hwm_kib(),
                })
            );
        }
        "throughput" => {
            let reps: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or_else(|| panic!("{usage}"));
            let limit: usize = args.get(4).and_then(|r| r.parse().ok()).unwrap_or(usize::MAX);
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            let payloads: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(limit).collect();
            let mut rates = Vec::with_capacity(reps);
            let mut cpu_rates = Vec::with_capacity(reps);
            let (mut events, mut failures) = (0, 0);
            for _ in 0..reps {
                let (processor, rule) = new_processor();
                let started = Instant::now();
                let cpu_started = thread_cpu_seconds();
                let (n, failed, _) = run_all(&runtime, &processor, &payloads);
                let seconds = started.elapsed().as_secs_f64();
                cpu_rates.push(n as f64 / (thread_cpu_seconds() - cpu_started));
                assert_eq!(rule.reserved_orders() + failed, n, "every event reserved or failed");
                rates.push(n as f64 / seconds);
                events = n;
                failures = failed;
            }
            // For the breakdown: deserializing the Lambda payloads alone (no decode of the bodies).
            let mut parse_rates = Vec::with_capacity(reps);
            for _ in 0..reps {
                let started = Instant::now();
                let mut n = 0;
                for payload in &payloads {
                    let event: SqsEvent = serde_json::from_str(payload).unwrap_or_else(|e| panic!("payload: {e}"));
                    n += std::hint::black_box(event).records.len();
                }
                parse_rates.push(n as f64 / started.elapsed().as_secs_f64());
            }
            println!(
                "{}",
                serde_json::json!({
                    "events_per_rep": events, "failures": failures, "rates": rates, "cpu_rates": cpu_rates,
                    "payload_parse_rates": parse_rates,
                })
            );
        }
        _ => panic!("{usage}"),
    }
}
