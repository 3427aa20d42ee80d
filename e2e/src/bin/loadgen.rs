//! `bench/run` item 3: end-to-end latency and fan-out throughput of the deployed stack on
//! LocalStack (it is not AWS: one host, LocalStack's own pollers and executor, 2 cores shared
//! with the load generator).
//!
//! Every order gets a customer of its own and one line of a SKU created for the run with ample
//! stock, so every order is reserved, captured (its total is below the decline threshold) and
//! confirmed by email. An effect counts from the moment its record is first seen:
//! - reservation: ReservationsTable item of the order (inventory consumer);
//! - payment: PaymentsTable item (billing consumer);
//! - email: NotificationsTable item, written right after SES accepted the email (notification
//!   consumer); the SES mailbox is checked for every order at the end.
//!
//! Phases:
//! 1. warm-up: `warmup` orders one at a time (their latencies include the functions' cold
//!    starts; reported apart);
//! 2. sequential: `sequential` orders, each placed after the previous one's three effects were seen;
//! 3. bursts: `bursts` times `burst_size` orders posted at once, the next burst once the previous
//!    one is fully processed;
//! 4. throughput: `throughput` orders posted by `post_concurrency` concurrent clients as fast as the
//!    API takes them, while the three tables' item counts are polled: orders fully processed per
//!    second, overall and between 10% and 90% of completion.
//!
//! Latency = from just before `POST /orders` is sent to the first poll that finds the effect. In
//! phases 1-3, the outstanding effects are polled with one BatchGetItem (consistent reads) every
//! `tick_ms`, so a figure overstates the true latency by at most one tick plus one poll.
//!
//! usage: loadgen OUT.json [sequential=N] [bursts=N] [burst_size=N] [throughput=N]
//!        [post_concurrency=N] [tick_ms=N] [warmup=N] [timeout_s=N]
// A developer tool run by hand or by make: a failure ends it with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Select};
use e2e::{Harness, TestOrder, sent_emails};
use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

struct Settings {
    sequential: usize,
    bursts: usize,
    burst_size: usize,
    throughput: usize,
    post_concurrency: usize,
    tick: Duration,
    warmup: usize,
    timeout: Duration,
}

impl Settings {
    fn from_args(args: &[String]) -> Settings {
        let mut map: HashMap<&str, u64> = HashMap::new();
        for arg in args {
            let (key, value) = arg.split_once('=').unwrap_or_else(|| panic!("expected key=value, got {arg}"));
            map.insert(key, value.parse().unwrap_or_else(|_| panic!("{arg}: not a number")));
        }
        let get = |key: &str, default: u64| map.get(key).copied().unwrap_or(default);
        Settings {
            sequential: get("sequential", 200) as usize,
            bursts: get("bursts", 10) as usize,
            burst_size: get("burst_size", 20) as usize,
            throughput: get("throughput", 300) as usize,
            post_concurrency: get("post_concurrency", 8).max(1) as usize,
            tick: Duration::from_millis(get("tick_ms", 25)),
            warmup: get("warmup", 3) as usize,
            timeout: Duration::from_secs(get("timeout_s", 90)),
        }
    }
}

/// One order placed by the load generator and what has been seen of it.
struct Tracked {
    order_id: Option<Uuid>,
    email: String,
    started: Instant,
    post_ms: f64,
    status: u16,
    /// Milliseconds from `started` to the first sighting of each effect.
    seen: [Option<f64>; 3],
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

struct Bench {
    harness: Harness,
    /// Reservations, payments, notifications table names, in that order (reservation, payment, email).
    tables: [String; 3],
    sku: String,
}

impl Bench {
    async fn place(&self) -> Tracked {
        let order = TestOrder::new(vec![(self.sku.clone(), 1, 1999)]);
        let started = Instant::now();
        let response = self.harness.post_order(&order.body(), &[]).await;
        let post_ms = ms(started.elapsed());
        let order_id = if response.status == 201 {
            response.json["orderId"].as_str().and_then(|id| id.parse().ok())
        } else {
            eprintln!("loadgen: POST /orders -> {}: {}", response.status, response.text);
            None
        };
        Tracked { order_id, email: order.email, started, post_ms, status: response.status, seen: [None; 3] }
    }

    /// Polls until every effect of every order was seen, or the timeout.
    async fn wait_for_effects(&self, orders: &mut [Tracked], tick: Duration, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let mut outstanding: Vec<(usize, usize)> = Vec::new();
            for (i, order) in orders.iter().enumerate() {
                if order.order_id.is_none() {
                    continue;
                }
                for effect in 0..3 {
                    if order.seen[effect].is_none() {
                        outstanding.push((i, effect));
                    }
                }
            }
            if outstanding.is_empty() || Instant::now() > deadline {
                return;
            }
            let mut index: HashMap<(usize, Uuid), usize> = HashMap::new();
            for &(i, effect) in &outstanding {
                index.insert((effect, orders[i].order_id.expect("placed")), i);
            }
            // BatchGetItem takes at most 100 keys per request.
            for chunk in outstanding.chunks(100) {
                let mut per_table: HashMap<usize, Vec<HashMap<String, AttributeValue>>> = HashMap::new();
                for &(i, effect) in chunk {
                    let key = HashMap::from([(
                        "orderId".to_owned(),
                        AttributeValue::S(orders[i].order_id.expect("placed").to_string()),
                    )]);
                    per_table.entry(effect).or_default().push(key);
                }
                let mut request = self.harness.dynamodb.batch_get_item();
                for (effect, keys) in per_table {
                    let keys = KeysAndAttributes::builder()
                        .set_keys(Some(keys))
                        .consistent_read(true)
                        .projection_expression("orderId")
                        .build()
                        .expect("keys");
                    request = request.request_items(self.tables[effect].clone(), keys);
                }
                let response = match request.send().await {
                    Ok(response) => response,
                    Err(error) => {
                        eprintln!("loadgen: BatchGetItem failed (retrying next tick): {error:?}");
                        continue;
                    }
                };
                for (table, items) in response.responses.unwrap_or_default() {
                    let Some(effect) = self.tables.iter().position(|t| *t == table) else { continue };
                    for item in items {
                        let Some(AttributeValue::S(id)) = item.get("orderId") else { continue };
                        let Ok(id) = id.parse::<Uuid>() else { continue };
                        if let Some(&i) = index.get(&(effect, id)) {
                            let order = &mut orders[i];
                            order.seen[effect].get_or_insert(ms(order.started.elapsed()));
                        }
                    }
                }
            }
            tokio::time::sleep(tick).await;
        }
    }

    async fn count(&self, table: &str) -> u64 {
        let mut total = 0u64;
        let mut start_key = None;
        loop {
            let response = self
                .harness
                .dynamodb
                .scan()
                .table_name(table)
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .expect("Scan COUNT");
            total += u64::try_from(response.count).unwrap_or(0);
            match response.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => return total,
            }
        }
    }

    async fn counts(&self) -> [u64; 3] {
        let (a, b, c) =
            tokio::join!(self.count(&self.tables[0]), self.count(&self.tables[1]), self.count(&self.tables[2]));
        [a, b, c]
    }
}

/// Function processes (execution environments) this stack's LocalStack runs now, per function:
/// `bootstrap` processes whose environment points at our LocalStack endpoint.
fn environments(endpoint: &str) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    let wanted = format!("AWS_ENDPOINT_URL={endpoint}");
    let Ok(entries) = std::fs::read_dir("/proc") else { return counts };
    for entry in entries.flatten() {
        let path = entry.path();
        if std::fs::read_to_string(path.join("comm")).map(|c| c.trim() != "bootstrap").unwrap_or(true) {
            continue;
        }
        let Ok(environ) = std::fs::read(path.join("environ")) else { continue };
        let vars: Vec<String> = environ.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
        if !vars.iter().any(|v| v.trim_end_matches('/') == wanted.trim_end_matches('/')) {
            continue;
        }
        if let Some(name) = vars.iter().find_map(|v| v.strip_prefix("AWS_LAMBDA_FUNCTION_NAME=")) {
            *counts.entry(name.to_owned()).or_default() += 1;
        }
    }
    counts
}

fn orders_json(orders: &[Tracked]) -> Value {
    Value::Array(
        orders
            .iter()
            .map(|o| {
                json!({
                    "status": o.status,
                    "post_ms": o.post_ms,
                    "reservation_ms": o.seen[0],
                    "payment_ms": o.seen[1],
                    "email_ms": o.seen[2],
                })
            })
            .collect(),
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args.first().cloned().unwrap_or_else(|| panic!("usage: loadgen OUT.json [key=value...]"));
    let settings = Settings::from_args(&args[1..]);
    let harness = Harness::connect().await;
    let tables = [
        harness.stack.output("ReservationsTableName").to_owned(),
        harness.stack.output("PaymentsTableName").to_owned(),
        harness.stack.output("NotificationsTableName").to_owned(),
    ];
    let sku = harness.create_sku(100_000_000).await;

    // The configured event source mappings (MaximumConcurrency is what bounds the fan-out).
    let mut mappings = Vec::new();
    if let Ok(listed) = harness.lambda.list_event_source_mappings().send().await {
        for m in listed.event_source_mappings.unwrap_or_default() {
            mappings.push(json!({
                "function": m.function_arn.unwrap_or_default().rsplit(':').next().unwrap_or_default(),
                "source": m.event_source_arn.unwrap_or_default().rsplit(':').next().unwrap_or_default(),
                "batch_size": m.batch_size,
                "batching_window_s": m.maximum_batching_window_in_seconds,
                "maximum_concurrency": m.scaling_config.and_then(|s| s.maximum_concurrency),
                "report_batch_item_failures": m.function_response_types.unwrap_or_default().iter()
                    .any(|t| t.as_str() == "ReportBatchItemFailures"),
            }));
        }
    }
    let bench = Bench { harness, tables, sku };
    let mut all_emails: Vec<String> = Vec::new();

    // 1. warm-up (cold starts included).
    eprintln!("loadgen: warm-up, {} orders", settings.warmup);
    let mut warmup = Vec::new();
    for _ in 0..settings.warmup {
        let mut order = vec![bench.place().await];
        bench.wait_for_effects(&mut order, settings.tick, settings.timeout).await;
        warmup.extend(order);
    }

    // 2. sequential.
    eprintln!("loadgen: sequential, {} orders", settings.sequential);
    let started = Instant::now();
    let mut sequential = Vec::new();
    for i in 0..settings.sequential {
        let mut order = vec![bench.place().await];
        bench.wait_for_effects(&mut order, settings.tick, settings.timeout).await;
        sequential.extend(order);
        if (i + 1) % 50 == 0 {
            eprintln!("loadgen:   {} done in {:.0} s", i + 1, started.elapsed().as_secs_f64());
        }
    }
    let sequential_s = started.elapsed().as_secs_f64();
    // Partial results after every phase: a run cut short still leaves its figures.
    let partial = |phase: &str, value: Value| {
        let mut report: Value = std::fs::read_to_string(&out)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .filter(|v: &Value| v.is_object())
            .unwrap_or_else(|| json!({}));
        report[phase] = value;
        std::fs::write(&out, serde_json::to_string_pretty(&report).expect("JSON")).expect("write the report");
    };
    let _ = std::fs::remove_file(&out);
    partial(
        "settings",
        json!({
            "sequential": settings.sequential, "bursts": settings.bursts, "burst_size": settings.burst_size,
            "throughput": settings.throughput, "post_concurrency": settings.post_concurrency,
            "tick_ms": ms(settings.tick), "warmup": settings.warmup, "timeout_s": settings.timeout.as_secs(),
        }),
    );
    partial("event_source_mappings", Value::Array(mappings.clone()));
    partial("warmup", orders_json(&warmup));
    partial("sequential", json!({ "wall_s": sequential_s, "orders": orders_json(&sequential) }));

    // 3. bursts.
    eprintln!("loadgen: {} bursts of {}", settings.bursts, settings.burst_size);
    let started = Instant::now();
    let mut bursts = Vec::new();
    for _ in 0..settings.bursts {
        let mut burst: Vec<Tracked> = futures::future::join_all((0..settings.burst_size).map(|_| bench.place())).await;
        bench.wait_for_effects(&mut burst, settings.tick, settings.timeout).await;
        bursts.extend(burst);
    }
    let bursts_s = started.elapsed().as_secs_f64();
    partial("bursts", json!({ "wall_s": bursts_s, "orders": orders_json(&bursts) }));

    // 4. sustained throughput.
    eprintln!("loadgen: throughput, {} orders, {} concurrent clients", settings.throughput, settings.post_concurrency);
    let baseline = bench.counts().await;
    let target = settings.throughput as u64;
    let started = Instant::now();
    let posting = async {
        let placed: Vec<Tracked> = futures::stream::iter(0..settings.throughput)
            .map(|_| bench.place())
            .buffer_unordered(settings.post_concurrency)
            .collect()
            .await;
        (placed, ms(started.elapsed()))
    };
    let endpoint = e2e::endpoint();
    let peak_environments = std::cell::RefCell::new(HashMap::<String, u64>::new());
    let polling = async {
        let mut series: Vec<Value> = Vec::new();
        let deadline = Instant::now() + settings.timeout * 4;
        loop {
            let counts = bench.counts().await;
            for (function, n) in environments(&endpoint) {
                let mut peak = peak_environments.borrow_mut();
                let entry = peak.entry(function).or_default();
                *entry = (*entry).max(n);
            }
            let done: Vec<u64> = counts.iter().zip(baseline).map(|(c, b)| c.saturating_sub(b)).collect();
            series.push(
                json!({"t_ms": ms(started.elapsed()), "reservation": done[0], "payment": done[1], "email": done[2]}),
            );
            if done.iter().all(|d| *d >= target) || Instant::now() > deadline {
                return series;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let ((placed, posting_ms), series) = tokio::join!(posting, polling);
    let accepted = placed.iter().filter(|o| o.status == 201).count();

    // Every placed order's confirmation reached SES.
    for order in warmup.iter().chain(&sequential).chain(&bursts).chain(&placed) {
        if order.status == 201 {
            all_emails.push(order.email.clone());
        }
    }
    let mailbox = sent_emails(&bench.harness.http).await;
    let mut recipients: HashMap<String, usize> = HashMap::new();
    for message in &mailbox {
        for to in message["Destination"]["ToAddresses"].as_array().cloned().unwrap_or_default() {
            if let Some(to) = to.as_str() {
                *recipients.entry(to.to_owned()).or_default() += 1;
            }
        }
    }
    let emails_missing = all_emails.iter().filter(|e| !recipients.contains_key(*e)).count();
    let emails_duplicated = all_emails.iter().filter(|e| recipients.get(*e).copied().unwrap_or(0) > 1).count();

    let report = json!({
        "settings": {
            "sequential": settings.sequential, "bursts": settings.bursts, "burst_size": settings.burst_size,
            "throughput": settings.throughput, "post_concurrency": settings.post_concurrency,
            "tick_ms": ms(settings.tick), "warmup": settings.warmup, "timeout_s": settings.timeout.as_secs(),
        },
        "event_source_mappings": mappings,
        "warmup": orders_json(&warmup),
        "sequential": { "wall_s": sequential_s, "orders": orders_json(&sequential) },
        "bursts": { "wall_s": bursts_s, "orders": orders_json(&bursts) },
        "throughput": {
            "orders": settings.throughput, "accepted": accepted, "posting_ms": posting_ms,
            "post_ms": placed.iter().map(|o| o.post_ms).collect::<Vec<_>>(),
            "series": series,
            "peak_environments": peak_environments.into_inner(),
        },
        "emails": { "expected": all_emails.len(), "missing": emails_missing, "duplicated": emails_duplicated },
    });
    std::fs::write(&out, serde_json::to_string_pretty(&report).expect("JSON")).expect("write the report");
    eprintln!("loadgen: wrote {out}");
}
