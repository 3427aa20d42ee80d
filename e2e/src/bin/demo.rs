//! `make demo`, after the stack is up: places one order through the API and shows, in a few
//! lines, what each consumer did with it.
// A developer tool run by hand or by make: a failure ends it with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use e2e::{Harness, eventually, number, string};
use orderflow_events::Money;
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// The project's one money display (`EUR 39.98`, `JPY 3998`).
fn money(minor_units: u64, currency: &str) -> String {
    Money::new(minor_units, currency.parse().expect("an ISO 4217 code")).to_string()
}

#[tokio::main]
async fn main() {
    let harness = Harness::connect().await;
    let sku = std::env::var("DEMO_SKU").unwrap_or_else(|_| "BOOK-0001".into());
    let (available_before, _) = harness.stock(&sku).await;
    let body = json!({
        "customer": { "id": "cus_1001", "email": "ada@example.com", "name": "Ada Lovelace" },
        "currency": "EUR",
        "items": [ { "sku": sku, "quantity": 2, "unitPrice": 1999 } ]
    });
    let idempotency_key = format!("demo-{}", Uuid::now_v7());

    println!("POST {}", harness.url("/orders"));
    let started = Instant::now();
    let response = harness.post_order(&body, &[("Idempotency-Key", &idempotency_key)]).await;
    println!("  -> {} in {} ms: {}", response.status, started.elapsed().as_millis(), response.text);
    if response.status != 201 {
        eprintln!("the order was not placed");
        std::process::exit(1);
    }
    let order_id: Uuid = response.json["orderId"].as_str().and_then(|id| id.parse().ok()).expect("orderId");
    let total = response.json["total"].as_u64().unwrap_or_default();
    println!("\nOrder {order_id}: 2 x {sku}, total {}", money(total, "EUR"));

    let reservation = eventually(WAIT, "the reservation", || harness.reservation(order_id)).await;
    let (available, reserved) = harness.stock(&sku).await;
    println!(
        "  inventory     {} after {:>5} ms  ({sku}: available {available_before} -> {available}, reserved {reserved})",
        string(&reservation, "status"),
        started.elapsed().as_millis()
    );
    let payment = eventually(WAIT, "the payment", || harness.payment(order_id)).await;
    println!(
        "  billing       {} after {:>5} ms  ({})",
        string(&payment, "status"),
        started.elapsed().as_millis(),
        money(number(&payment, "amount"), &string(&payment, "currency"))
    );
    let emails = eventually(WAIT, "the email", || async {
        let emails: Vec<_> = harness
            .emails_to("ada@example.com")
            .await
            .into_iter()
            .filter(|email| email.to_string().contains(&order_id.to_string()))
            .collect();
        (!emails.is_empty()).then_some(emails)
    })
    .await;
    println!(
        "  notification  SENT after {:>5} ms  (to ada@example.com: {:?})",
        started.elapsed().as_millis(),
        emails[0]["Subject"].as_str().unwrap_or("")
    );
    let dlq_depth: u64 = futures::future::join_all(harness.dlq_urls().into_iter().map(|dlq| harness.queue_depth(dlq)))
        .await
        .iter()
        .sum();
    println!("  dead-letter queues: {dlq_depth} messages");
    println!("\nRead it back: curl -s {}", harness.url(&format!("/orders/{order_id}")));
}
