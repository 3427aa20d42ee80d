//! `make demo`, after the stack is up: places one order that is confirmed and one that is
//! cancelled (its payment is above the simulated gateway's limit) and shows what each service
//! did, in order, with times from the POST: the events on the topic (read by a spy queue of the
//! demo's own), then each consumer's record, the email and the shipment; and how long the order
//! took from POST to its settled status.
//!
//! `demo --measure N` (or `DEMO_MEASURE=N make demo`): N sequential orders (N >= 50 for
//! meaningful figures), each placed once the previous one settled; prints p50/p95/max of POST ->
//! settled and of POST -> every consumer done, and the hops an order takes.
// A developer tool run by hand or by make: a failure ends it with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use e2e::spy::SpyQueue;
use e2e::{Harness, TestOrder, attribute_json, number, string, string_opt};
use orderflow_events::{Money, OrderEvent};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(120);

/// The project's one money display (`EUR 39.98`, `JPY 3998`).
fn money(minor_units: u64, currency: &str) -> String {
    Money::new(minor_units, currency.parse().expect("an ISO 4217 code")).to_string()
}

fn demo_order(name: &str, items: Vec<(String, u32, u64)>) -> TestOrder {
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let mut order = TestOrder::new(items).with_shipping_address();
    order.customer_id = format!("cus_demo_{name}_{tag}");
    order.email = format!("{name}.{tag}@example.com");
    order
}

/// Milliseconds from `t0` to `t`, signed (a record's clock is LocalStack's, the same host's).
fn offset(t0: DateTime<Utc>, t: DateTime<Utc>) -> String {
    format!("+{:>6} ms", (t - t0).num_milliseconds())
}

/// Polls the order row (consistent reads) until its status is no longer PLACED.
async fn wait_settled_row(harness: &Harness, order_id: Uuid) -> Option<String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(row) = harness.stored_order(order_id).await {
            let status = string(&row, "status");
            if status != "PLACED" {
                return Some(status);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Every `...At` attribute of a record, as `name +offset`.
fn record_times(t0: DateTime<Utc>, item: &HashMap<String, AttributeValue>) -> String {
    let mut times: Vec<(DateTime<Utc>, String)> = item
        .iter()
        .filter(|(name, _)| name.ends_with("At") && name.as_str() != "expiresAt")
        .filter_map(|(name, value)| match value {
            AttributeValue::S(text) => text.parse::<DateTime<Utc>>().ok().map(|t| (t, name.clone())),
            _ => None,
        })
        .collect();
    times.sort();
    times.iter().map(|(t, name)| format!("{name} {}", offset(t0, *t).trim())).collect::<Vec<_>>().join(", ")
}

fn describe(event: &OrderEvent) -> String {
    match event {
        OrderEvent::OrderPlacedV1(e) => format!("{} line(s), total {}", e.data().items().len(), e.data().total()),
        OrderEvent::StockReservedV1(e) => {
            let lines: Vec<String> = e.data().items().iter().map(|l| format!("{} x{}", l.sku, l.quantity)).collect();
            format!("reserved {}", lines.join(", "))
        }
        OrderEvent::StockRejectedV1(e) => format!("{} ({})", e.data().reason().as_str(), e.data().sku()),
        OrderEvent::PaymentAuthorizedV1(e) => {
            format!("{} held, authorization {}", e.data().amount(), e.data().authorization_id())
        }
        OrderEvent::PaymentDeclinedV1(e) => format!("{} refused: {}", e.data().amount(), e.data().reason().as_str()),
        OrderEvent::OrderConfirmedV1(e) => format!("total {}", e.data().total()),
        OrderEvent::OrderCancelledV1(e) => format!("reason {}", e.data().reason().as_str()),
        _ => String::new(),
    }
}

async fn show(harness: &Harness, spy: &mut SpyQueue, title: &str, order: &TestOrder) {
    let mut stock_before = Vec::new();
    for (sku, _, _) in &order.items {
        stock_before.push((sku.clone(), harness.stock(sku).await));
    }
    println!(
        "\n=== {title}: {} ===",
        order.items.iter().map(|(s, q, p)| format!("{q} x {s} at {}", money(*p, "EUR"))).collect::<Vec<_>>().join(", ")
    );
    println!("POST {}", harness.url("/orders"));
    let t0 = Utc::now();
    let started = Instant::now();
    let key = format!("demo-{}", Uuid::now_v7());
    let response = harness.post_order(&order.body(), &[("Idempotency-Key", &key)]).await;
    println!("  -> {} {} in {} ms", response.status, response.json["status"], started.elapsed().as_millis());
    if response.status != 201 {
        eprintln!("the order was not placed: {}", response.text);
        std::process::exit(1);
    }
    let order_id: Uuid = response.json["orderId"].as_str().and_then(|id| id.parse().ok()).expect("orderId");
    let status = wait_settled_row(harness, order_id).await;
    let settled_ms = started.elapsed().as_millis();
    let Some(status) = status else {
        eprintln!("order {order_id} did not settle within {WAIT:?}");
        std::process::exit(1);
    };
    let get = harness.get_order(order_id).await;
    println!(
        "  order {order_id}: {status}{} after {settled_ms} ms (POST -> settled)",
        get.json["statusReason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default()
    );
    let settled = harness.wait_settled(order_id, WAIT).await;
    harness.wait_for_effects(order, order_id, &settled, WAIT).await;
    let effects_ms = started.elapsed().as_millis();
    spy.collect_for(Duration::from_secs(2)).await;

    println!("\n  on the topic (event time from the POST, producer, event):");
    let mut events: Vec<&OrderEvent> = spy.events_for(order_id);
    events.sort_by_key(|e| e.time());
    for event in &events {
        let name = event.event_type().split('.').nth(1).unwrap_or("?");
        println!("    {}  {:<10} {:<18} {}", offset(t0, event.time()), event.source(), name, describe(event));
    }

    println!("\n  what each service recorded:");
    if let Some(reservation) = harness.reservation(order_id).await {
        println!(
            "    inventory     reservation {:<10} {}",
            string(&reservation, "status"),
            record_times(t0, &reservation)
        );
    }
    for (sku, (available, reserved)) in &stock_before {
        let (a, r) = harness.stock(sku).await;
        println!("                  {sku}: available {available} -> {a}, reserved {reserved} -> {r}");
    }
    if let Some(payment) = harness.payment(order_id).await {
        println!(
            "    billing       payment {:<14} {}  {}",
            string(&payment, "status"),
            money(number(&payment, "amount"), &string(&payment, "currency")),
            record_times(t0, &payment)
        );
    }
    let emails = harness.emails_to(&order.email).await;
    for email in &emails {
        // SES keeps whole seconds without a zone: shown as it is, the record's sentAt is exact.
        println!(
            "    notification  email to {} (SES {}): {:?}",
            order.email,
            email["Timestamp"].as_str().unwrap_or("?"),
            email["Subject"].as_str().unwrap_or("")
        );
    }
    if let Some(notification) = harness.notification(order_id).await {
        println!(
            "                  record kind {} {}",
            string_opt(&notification, "kind").unwrap_or_default(),
            record_times(t0, &notification)
        );
    }
    match harness.shipment(order_id).await {
        Some(shipment) => println!(
            "    shipping      shipment {} to {}  {}",
            string(&shipment, "status"),
            shipment
                .get("shippingAddress")
                .map(attribute_json)
                .map(|a| format!("{}, {}", a["line1"], a["city"]))
                .unwrap_or_default(),
            record_times(t0, &shipment)
        ),
        None => println!("    shipping      no shipment"),
    }
    println!("  every consumer done {effects_ms} ms after the POST");
    println!("  read it back: curl -s {}", harness.url(&format!("/orders/{order_id}")));
    history(order_id).await;
}

/// The order's journey as the operator sees it: `orderflow --local order history <id>`.
async fn history(order_id: Uuid) {
    let id = order_id.to_string();
    println!("\n  $ orderflow --local order history {id}");
    let args = ["orderflow", "--local", "--stack", &e2e::stack_name(), "order", "history", &id];
    let mut out = Vec::new();
    match orderflow_cli::run(args, &mut out).await {
        Ok(()) => {
            for line in String::from_utf8_lossy(&out).lines() {
                println!("  {line}");
            }
        }
        Err(error) => println!("  (no history: {error})"),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn measure(harness: &Harness, spy: &mut SpyQueue, orders: usize) {
    let sku = harness.create_sku(1_000_000).await;
    println!("measuring {orders} sequential orders (1 x {sku} each, all confirmed) ...");
    let mut settled = Vec::new();
    let mut done = Vec::new();
    let mut ids = Vec::new();
    for i in 0..orders {
        let order = TestOrder::new(vec![(sku.clone(), 1, 1999)]);
        let started = Instant::now();
        let order_id = harness.place_order(&order).await;
        wait_settled_row(harness, order_id).await.expect("the order settles");
        settled.push(started.elapsed().as_secs_f64() * 1000.0);
        let status = harness.wait_settled(order_id, WAIT).await;
        harness.wait_for_effects(&order, order_id, &status, WAIT).await;
        done.push(started.elapsed().as_secs_f64() * 1000.0);
        ids.push(order_id);
        if (i + 1) % 10 == 0 {
            eprintln!("  {} done", i + 1);
        }
    }
    spy.collect_for(Duration::from_secs(3)).await;
    let events: Vec<usize> = ids.iter().map(|id| spy.events_for(*id).len()).collect();
    let mut chain: Vec<(DateTime<Utc>, String)> = ids
        .last()
        .map(|id| spy.events_for(*id).iter().map(|e| (e.time(), e.event_type().to_owned())).collect())
        .unwrap_or_default();
    chain.sort();
    for list in [&mut settled, &mut done] {
        list.sort_by(f64::total_cmp);
    }
    let line = |name: &str, list: &[f64]| {
        println!(
            "  {name:<28} p50 {:>7.0} ms   p95 {:>7.0} ms   max {:>7.0} ms",
            percentile(list, 50.0),
            percentile(list, 95.0),
            list.last().copied().unwrap_or(f64::NAN)
        );
    };
    println!("\n{orders} sequential orders:");
    line("POST -> settled (CONFIRMED)", &settled);
    line("POST -> every consumer done", &done);
    println!(
        "  events per order: {} (min {}, max {}): {}",
        events.iter().sum::<usize>() as f64 / events.len().max(1) as f64,
        events.iter().min().unwrap_or(&0),
        events.iter().max().unwrap_or(&0),
        chain.iter().map(|(_, t)| t.split('.').nth(1).unwrap_or("?")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "  hops (SNS -> SQS -> function deliveries on the critical path): 2 to settled \
         (OrderPlaced -> inventory | billing; StockReserved, PaymentAuthorized -> order-lifecycle), \
         3 to the reactions (OrderConfirmed -> inventory, billing, notification, shipping)"
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let measure_n = match args.as_slice() {
        [flag, n] if flag == "--measure" => Some(n.parse::<usize>().expect("--measure N: a number")),
        [] => std::env::var("DEMO_MEASURE")
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().expect("DEMO_MEASURE: a number")),
        _ => panic!("usage: demo [--measure N]"),
    };
    let harness = Harness::connect().await;
    let mut spy = SpyQueue::attach(&harness).await;
    if let Some(n) = measure_n {
        measure(&harness, &mut spy, n).await;
    } else {
        let sku = std::env::var("DEMO_SKU").unwrap_or_else(|_| "BOOK-0001".into());
        let confirmed = demo_order("ada", vec![(sku.clone(), 2, 1999)]);
        show(&harness, &mut spy, "An order that is confirmed", &confirmed).await;
        // 1 x 1,500.00 EUR: above the simulated gateway's limit of 1,000.00.
        let declined = demo_order("charles", vec![(sku, 1, 150_000)]);
        show(&harness, &mut spy, "An order that is cancelled (payment declined)", &declined).await;
    }
    let dlq_depth: u64 = futures::future::join_all(harness.dlq_urls().into_iter().map(|dlq| harness.queue_depth(dlq)))
        .await
        .iter()
        .sum();
    println!("\ndead-letter queues: {dlq_depth} messages");
    spy.detach().await;
}
