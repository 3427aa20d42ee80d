//! The guarantees of `docs/contracts/order-lifecycle.md`, checked for one settled order from what
//! the stack recorded: the order's status (over HTTP), the reservation, the payment, the emails
//! LocalStack's SES accepted, the notification record and the shipment.
//!
//! A check is two steps: [`Harness::wait_for_effects`] waits until every consumer has acted on
//! the settlement (so a slow consumer is not mistaken for a broken guarantee), then
//! [`Harness::guarantee_problems`] reads everything once and lists what does not hold. Counting
//! ("exactly one email") only means something after a grace period for late duplicates, which
//! the caller gives once for all its orders.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::{Harness, TestOrder, attribute_json, eventually, number, sent_emails, string, string_opt};

/// Reservation statuses that leave nothing reserved and nothing taken (a cancelled order).
pub const RESERVATION_CANCELLED_STATES: [&str; 3] = ["REJECTED", "RELEASED", "CANCELLED"];
/// Payment statuses of a cancelled order (no capture).
pub const PAYMENT_CANCELLED_STATES: [&str; 2] = ["DECLINED", "VOIDED"];
/// Reasons as they appear in events and `statusReason`; none may appear in an email.
pub const REASON_CODES: [&str; 4] = ["OUT_OF_STOCK", "UNKNOWN_SKU", "PAYMENT_DECLINED", "TIMEOUT"];

/// How the order settled, as `GET /orders/{id}` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub status: String,
    pub reason: Option<String>,
    /// The whole GET body.
    pub body: Value,
}

impl Settled {
    pub fn confirmed(&self) -> bool {
        self.status == "CONFIRMED"
    }
}

/// What a test expects of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Confirmed,
    /// Cancelled with this `statusReason`.
    Cancelled(&'static str),
}

impl Harness {
    /// Polls `GET /orders/{id}` until the status is no longer `PLACED`.
    pub async fn wait_settled(&self, order_id: Uuid, timeout: Duration) -> Settled {
        eventually(timeout, &format!("order {order_id} to settle"), || async {
            let response = self.get_order(order_id).await;
            if response.status != 200 {
                return None;
            }
            let status = response.json["status"].as_str()?.to_owned();
            (status != "PLACED").then(|| Settled {
                status,
                reason: response.json["statusReason"].as_str().map(str::to_owned),
                body: response.json.clone(),
            })
        })
        .await
    }

    /// Waits until every consumer has acted on the settlement: for a confirmed order the
    /// payment is captured, the reservation committed, an email sent and a shipment made; for a
    /// cancelled one the payment and the reservation are in a final cancelled state and an
    /// email was sent. (It waits for the effects, it does not judge them: a wrong final state
    /// times out here with the state in the message.)
    pub async fn wait_for_effects(&self, order: &TestOrder, order_id: Uuid, settled: &Settled, timeout: Duration) {
        let confirmed = settled.confirmed();
        let deadline = std::time::Instant::now() + timeout;
        let last = loop {
            let payment = self.payment(order_id).await.map(|p| string(&p, "status"));
            let reservation = self.reservation(order_id).await.map(|r| string(&r, "status"));
            let emailed = !self.emails_to(&order.email).await.is_empty();
            let shipped = self.shipment(order_id).await.is_some();
            let done = if confirmed {
                payment.as_deref() == Some("CAPTURED")
                    && reservation.as_deref() == Some("COMMITTED")
                    && emailed
                    && shipped
            } else {
                payment.as_deref().is_some_and(|p| PAYMENT_CANCELLED_STATES.contains(&p))
                    && reservation.as_deref().is_some_and(|r| RESERVATION_CANCELLED_STATES.contains(&r))
                    && emailed
            };
            if done {
                return;
            }
            if std::time::Instant::now() > deadline {
                break format!(
                    "{} order {order_id}: payment {payment:?}, reservation {reservation:?}, emailed {emailed}, \
                     shipped {shipped}",
                    settled.status
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        panic!("timed out after {timeout:?} waiting for the consumers to act on the settlement: {last}");
    }

    /// Every guarantee of the contract that does not hold for this order now, as text (empty:
    /// all hold). `mailbox` is LocalStack's SES messages (read once for many orders). Stock
    /// levels are the caller's to check: they are per SKU, not per order.
    pub async fn guarantee_problems(
        &self,
        order: &TestOrder,
        order_id: Uuid,
        expect: Expect,
        mailbox: &[Value],
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let mut problem = |text: String| problems.push(format!("order {order_id}: {text}"));
        let response = self.get_order_retrying(order_id).await;
        let status = response.json["status"].as_str().unwrap_or("(none)").to_owned();
        if response.status != 200 {
            problem(format!("GET answered {} after retries: {}", response.status, response.json));
        }
        let reason = response.json["statusReason"].as_str().map(str::to_owned);
        let payment = self.payment(order_id).await;
        let payment_status = payment.as_ref().map(|p| string(p, "status"));
        let reservation = self.reservation(order_id).await.map(|r| string(&r, "status"));
        let shipment = self.shipment(order_id).await;
        let notification = self.notification(order_id).await;
        let kind = notification.as_ref().and_then(|n| string_opt(n, "kind"));
        let emails: Vec<&Value> = mailbox
            .iter()
            .filter(|m| {
                m["Destination"]["ToAddresses"].as_array().is_some_and(|to| to.iter().any(|a| a == &order.email))
            })
            .collect();
        if emails.len() != 1 {
            problem(format!("{} emails, expected exactly one: {emails:?}", emails.len()));
        }
        for email in &emails {
            let text = email.to_string();
            if !text.contains(&order_id.to_string()) {
                problem(format!("the email does not name the order: {text}"));
            }
        }
        match expect {
            Expect::Confirmed => {
                if status != "CONFIRMED" || reason.is_some() {
                    problem(format!("status {status} reason {reason:?}, expected CONFIRMED"));
                }
                match &payment {
                    Some(p) if string(p, "status") == "CAPTURED" => {
                        if number(p, "amount") != order.total() || string(p, "currency") != order.currency {
                            problem(format!(
                                "captured {} {}, expected {} {}",
                                number(p, "amount"),
                                string(p, "currency"),
                                order.total(),
                                order.currency
                            ));
                        }
                    }
                    other => problem(format!("payment {other:?}, expected CAPTURED")),
                }
                if reservation.as_deref() != Some("COMMITTED") {
                    problem(format!("reservation {reservation:?}, expected COMMITTED"));
                }
                if kind.as_deref().is_some_and(|k| k != "CONFIRMATION") {
                    problem(format!("notification kind {kind:?}, expected CONFIRMATION"));
                }
                match &shipment {
                    Some(shipment) => {
                        if string(shipment, "status") != "READY" {
                            problem(format!("shipment status {}, expected READY", string(shipment, "status")));
                        }
                        let expected: Vec<Value> = order
                            .items
                            .iter()
                            .map(|(sku, quantity, _)| json!({"sku": sku, "quantity": quantity}))
                            .collect();
                        let items = shipment.get("items").map(attribute_json).unwrap_or(Value::Null);
                        if !same_lines(&items, &expected) {
                            problem(format!("shipment items {items}, expected {}", Value::Array(expected)));
                        }
                        if let Some(address) = &order.shipping_address {
                            let stored = shipment.get("shippingAddress").map(attribute_json).unwrap_or(Value::Null);
                            if &stored != address {
                                problem(format!("shipment address {stored}, expected {address}"));
                            }
                        }
                    }
                    None => problem("no shipment, expected one".into()),
                }
            }
            Expect::Cancelled(expected_reason) => {
                if status != "CANCELLED" || reason.as_deref() != Some(expected_reason) {
                    problem(format!("status {status} reason {reason:?}, expected CANCELLED {expected_reason}"));
                }
                if payment_status.as_deref().is_some_and(|p| !PAYMENT_CANCELLED_STATES.contains(&p)) {
                    problem(format!("payment {payment_status:?}, expected DECLINED, VOIDED or none"));
                }
                if reservation.as_deref().is_some_and(|r| !RESERVATION_CANCELLED_STATES.contains(&r)) {
                    problem(format!("reservation {reservation:?}, expected REJECTED, RELEASED or CANCELLED"));
                }
                if kind.as_deref().is_some_and(|k| k != "CANCELLATION") {
                    problem(format!("notification kind {kind:?}, expected CANCELLATION"));
                }
                for email in &emails {
                    let text = email.to_string();
                    if let Some(code) = REASON_CODES.iter().find(|code| text.contains(*code)) {
                        problem(format!("the cancellation email shows the code {code}: {text}"));
                    }
                }
                if let Some(shipment) = shipment {
                    problem(format!("a shipment for a cancelled order: {shipment:?}"));
                }
            }
        }
        problems
    }

    /// The one-order check: settles, waits for the effects, gives late duplicates `grace`,
    /// then asserts every guarantee. Returns how it settled.
    pub async fn assert_settles(
        &self,
        order: &TestOrder,
        order_id: Uuid,
        expect: Expect,
        timeout: Duration,
    ) -> Settled {
        let settled = self.wait_settled(order_id, timeout).await;
        self.wait_for_effects(order, order_id, &settled, timeout).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mailbox = sent_emails(&self.http).await;
        let problems = self.guarantee_problems(order, order_id, expect, &mailbox).await;
        assert!(problems.is_empty(), "guarantees broken:\n{}", problems.join("\n"));
        settled
    }
}

/// Two lists of `{sku, quantity}` with the same lines, in any order.
fn same_lines(actual: &Value, expected: &[Value]) -> bool {
    let key = |line: &Value| (line["sku"].as_str().unwrap_or("").to_owned(), line["quantity"].as_u64().unwrap_or(0));
    let mut a: Vec<_> = actual.as_array().map(|l| l.iter().map(key).collect()).unwrap_or_default();
    let mut b: Vec<_> = expected.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

/// Per SKU: units of the given orders' lines, for the stock-conservation check.
pub fn units_per_sku<'a>(orders: impl IntoIterator<Item = &'a TestOrder>) -> HashMap<String, u64> {
    let mut units = HashMap::new();
    for order in orders {
        for (sku, quantity, _) in &order.items {
            *units.entry(sku.clone()).or_default() += u64::from(*quantity);
        }
    }
    units
}
