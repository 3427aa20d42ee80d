//! Data -> text: the tables a terminal shows and the JSON scripts read. Pure functions.

use chrono::{DateTime, SecondsFormat, Utc};
use comfy_table::{CellAlignment, Table, presets};
use owo_colors::OwoColorize;
use serde::Serialize;
use serde_json::Value;

use crate::model::{
    Decoded, DlqContents, DlqSummary, History, RedriveCancelled, RedriveStarted, RedriveStatus, ReplayReport,
};

/// How to style text for the terminal in front of us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn good(self, text: &str) -> String {
        if self.color { text.green().to_string() } else { text.to_owned() }
    }
    fn bad(self, text: &str) -> String {
        if self.color { text.red().bold().to_string() } else { text.to_owned() }
    }
    fn dim(self, text: &str) -> String {
        if self.color { text.dimmed().to_string() } else { text.to_owned() }
    }
    fn heading(self, text: &str) -> String {
        if self.color { text.bold().to_string() } else { text.to_owned() }
    }
}

/// One JSON document, pretty, newline-terminated.
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"));
    text.push('\n');
    text
}

/// A table without borders, like `ps` or `kubectl get`. Cells stay uncoloured: the table
/// measures bytes of escape codes as width (its ANSI-aware mode would pull a terminal library).
fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_header(header.to_vec());
    table
}

fn finish(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// `250 ms`, `1.5 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`.
pub fn duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let text = match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        3_600_000..86_400_000 => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
        _ => format!("{} d {} h", ms / 86_400_000, ms % 86_400_000 / 3_600_000),
    };
    format!("{sign}{text}")
}

fn time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

// --- orders -------------------------------------------------------------------------------------

/// An order body of the API (`POST /orders`, `GET /orders/{id}`).
pub fn order(order: &Value, style: Style) -> String {
    let text = |key: &str| order.get(key).and_then(Value::as_str).unwrap_or("-").to_owned();
    let status = text("status");
    let shown_status = match status.as_str() {
        "CONFIRMED" => style.good(&status),
        "CANCELLED" => style.bad(&status),
        _ => status.clone(),
    };
    let currency = text("currency");
    let money = |cents: Option<i64>| match cents {
        Some(cents) => format!("{}.{:02} {currency}", cents / 100, (cents % 100).abs()),
        None => "-".to_owned(),
    };
    let customer = order.get("customer");
    let customer_field = |key: &str| customer.and_then(|c| c.get(key)).and_then(Value::as_str).unwrap_or("");
    let mut out = format!("{} {}\n", style.heading("Order"), text("orderId"));
    out.push_str(&format!("  status    {shown_status}"));
    if let Some(reason) = order.get("statusReason").and_then(Value::as_str) {
        out.push_str(&format!(" ({reason})"));
    }
    out.push('\n');
    let name = customer_field("name");
    out.push_str(&format!(
        "  customer  {} {}{}\n",
        customer_field("id"),
        customer_field("email"),
        if name.is_empty() { String::new() } else { format!(" ({name})") }
    ));
    out.push_str(&format!("  placed    {}\n", text("placedAt")));
    out.push_str(&format!("  total     {}\n\n", money(order.get("total").and_then(Value::as_i64))));
    let mut items = table(&["SKU", "QTY", "UNIT PRICE", "AMOUNT"]);
    for item in order.get("items").and_then(Value::as_array).into_iter().flatten() {
        let quantity = item.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let unit = item.get("unitPrice").and_then(Value::as_i64);
        items.add_row(vec![
            item.get("sku").and_then(Value::as_str).unwrap_or("-").to_owned(),
            quantity.to_string(),
            money(unit),
            money(unit.map(|unit| unit * quantity)),
        ]);
    }
    align_right(&mut items, &[1, 2, 3]);
    finish(out + &items.to_string())
}

fn align_right(table: &mut Table, columns: &[usize]) {
    for index in columns {
        if let Some(column) = table.column_mut(*index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

// --- history ------------------------------------------------------------------------------------

pub fn history(history: &History, style: Style) -> String {
    let mut out = format!("{} {}\n\n", style.heading("Order"), history.order_id);
    if history.events.is_empty() {
        out.push_str("No events stored for this order (yet).\n");
        return out;
    }
    let mut rows = table(&["TIME", "EVENT", "SOURCE", "CORRELATION", "HANDLED BY", "HOP"]);
    for entry in &history.events {
        let event = &entry.event;
        let mut handlers = Vec::new();
        let mut hops = Vec::new();
        for handling in &entry.handled_by {
            let delayed = if handling.delayed { " (timer)" } else { "" };
            handlers.push(format!("{}{delayed}", handling.consumer));
            hops.push(match handling.hop_ms {
                Some(ms) => duration(ms),
                None => "not yet".to_owned(),
            });
        }
        if handlers.is_empty() {
            handlers.push("-".to_owned());
        }
        rows.add_row(vec![
            // Producers stamp milliseconds or nanoseconds; one width reads better in a column.
            event
                .parsed_time()
                .map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
                .unwrap_or_else(|| event.time.clone()),
            event.event_type.clone(),
            event.source.clone(),
            event.correlation_id.clone().unwrap_or_else(|| "-".to_owned()),
            handlers.join("\n"),
            hops.join("\n"),
        ]);
    }
    align_right(&mut rows, &[5]);
    out.push_str(&rows.to_string());
    out.push_str("\n\n");
    match &history.settlement {
        Some(settlement) => {
            let outcome = if settlement.outcome == "OrderConfirmed" {
                style.good(&settlement.outcome)
            } else {
                style.bad(&settlement.outcome)
            };
            out.push_str(&format!("Settled: {outcome} {} after OrderPlaced\n", duration(settlement.settle_ms)));
        }
        None => out.push_str("Not settled yet.\n"),
    }
    out
}

// --- DLQs ---------------------------------------------------------------------------------------

pub fn dlqs(dlqs: &[DlqSummary], style: Style) -> String {
    let mut rows = table(&["DLQ", "DEPTH", "OLDEST", "QUEUE"]);
    for dlq in dlqs {
        rows.add_row(vec![
            dlq.name.clone(),
            dlq.depth.to_string(),
            dlq.oldest_age_seconds.map(|age| duration(age * 1000)).unwrap_or_else(|| "-".to_owned()),
            dlq.queue_name.clone(),
        ]);
    }
    align_right(&mut rows, &[1, 2]);
    let waiting: u64 = dlqs.iter().map(|dlq| dlq.depth).sum();
    let summary = if waiting == 0 {
        style.good("Every DLQ is empty.")
    } else {
        style.bad(&format!("{waiting} message(s) wait in DLQs: `orderflow dlq show NAME` shows why."))
    };
    finish(format!("{rows}\n\n{summary}"))
}

pub fn dlq_contents(contents: &DlqContents, style: Style) -> String {
    let mut out = format!(
        "{} {} ({}): {} message(s)\n\n",
        style.heading("DLQ"),
        contents.name,
        contents.queue_name,
        contents.depth
    );
    if contents.messages.is_empty() {
        out.push_str("No messages.\n");
        return out;
    }
    let mut rows = table(&["SENT", "RECEIVES", "EVENT", "EVENT ID", "ORDER", "REASON"]);
    for message in &contents.messages {
        let (event_type, event_id, order) = match &message.event {
            Decoded::Event { event_type, event_id, order_id } => {
                (event_type.clone(), event_id.clone(), order_id.clone().unwrap_or_else(|| "-".to_owned()))
            }
            Decoded::Undecodable { first_bytes } => {
                ("undecodable".to_owned(), format!("message {}", message.message_id), format!("{first_bytes:?}"))
            }
        };
        rows.add_row(vec![
            message.sent_at.as_ref().map(time).unwrap_or_else(|| "-".to_owned()),
            message.receive_count.map(|count| count.to_string()).unwrap_or_else(|| "-".to_owned()),
            event_type,
            event_id,
            order,
            message.reason.clone().unwrap_or_else(|| "no failure logged".to_owned()),
        ]);
    }
    align_right(&mut rows, &[1]);
    out.push_str(&rows.to_string());
    out.push_str("\n\n");
    out.push_str(&style.dim(&format!("Nothing was deleted. After the fix: `orderflow dlq redrive {}`", contents.name)));
    out.push('\n');
    out
}

pub fn redrive_started(started: &RedriveStarted, _style: Style) -> String {
    format!(
        "Redrive of {} started: its messages go back to their source queue.\nTask handle: {}\nProgress: `orderflow dlq redrive-status {}`; stop: `orderflow dlq redrive-cancel {}`\n",
        started.name, started.task_handle, started.name, started.name
    )
}

pub fn redrive_status(status: &RedriveStatus, style: Style) -> String {
    if status.tasks.is_empty() {
        return format!("No redrive of {} so far.\n", status.name);
    }
    let mut rows = table(&["STARTED", "STATUS", "MOVED", "TO MOVE", "RATE", "TASK HANDLE / FAILURE"]);
    for task in &status.tasks {
        rows.add_row(vec![
            task.started_at.as_ref().map(time).unwrap_or_else(|| "-".to_owned()),
            task.status.clone(),
            task.moved.to_string(),
            task.to_move.map(|n| n.to_string()).unwrap_or_else(|| "-".to_owned()),
            task.rate.map(|rate| format!("{rate}/s")).unwrap_or_else(|| "max".to_owned()),
            task.failure_reason.clone().or_else(|| task.task_handle.clone()).unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    align_right(&mut rows, &[2, 3, 4]);
    finish(format!("{} {}\n\n{rows}", style.heading("Redrives of"), status.name))
}

pub fn redrive_cancelled(cancelled: &RedriveCancelled, _style: Style) -> String {
    format!(
        "Redrive of {} cancelled after {} message(s) moved; the rest stay in the DLQ.\n",
        cancelled.name, cancelled.moved
    )
}

// --- replay -------------------------------------------------------------------------------------

pub fn replay(report: &ReplayReport, style: Style) -> String {
    let mut out = String::new();
    if report.dry_run {
        out.push_str(&format!(
            "{} {} event(s) to {} ({}); nothing sent.\n",
            style.heading("Would send"),
            report.selected,
            report.consumer,
            report.queue_name
        ));
        if !report.events.is_empty() {
            let mut rows = table(&["TIME", "EVENT", "EVENT ID", "ORDER"]);
            for event in &report.events {
                rows.add_row(vec![
                    event.time.clone(),
                    format!("{} v{}", event.event_type, event.event_version),
                    event.event_id.clone(),
                    event.order_id.clone().unwrap_or_else(|| "-".to_owned()),
                ]);
            }
            out.push('\n');
            out.push_str(&rows.to_string());
            out.push('\n');
        }
    } else {
        out.push_str(&format!(
            "{} {} event(s) to {} ({}).\n",
            style.good("Sent"),
            report.sent,
            report.consumer,
            report.queue_name
        ));
    }
    out.push_str(&format!("Skipped {} (filter or the consumer's subscription policy).\n", report.skipped));
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::tests::event;
    use crate::model::{DlqMessage, Handling, Settlement, TimelineEntry, build_history};

    const PLAIN: Style = Style { color: false };

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(250), "250 ms");
        assert_eq!(duration(1500), "1.5 s");
        assert_eq!(duration(200_000), "3 min 20 s");
        assert_eq!(duration(7_500_000), "2 h 5 min");
        assert_eq!(duration(3 * 86_400_000 + 4 * 3_600_000), "3 d 4 h");
        assert_eq!(duration(-20), "-20 ms");
    }

    #[test]
    fn an_order_renders_with_money_and_items() {
        let body = serde_json::json!({
            "orderId": "o-1", "status": "CANCELLED", "statusReason": "OUT_OF_STOCK",
            "customer": {"id": "cus_1", "email": "ada@example.com", "name": "Ada"},
            "items": [{"sku": "BOOK-0001", "quantity": 2, "unitPrice": 1999}],
            "currency": "EUR", "total": 3998, "placedAt": "2026-11-23T18:30:00.120Z"
        });
        let text = order(&body, PLAIN);
        assert!(text.contains("Order o-1"), "{text}");
        assert!(text.contains("CANCELLED (OUT_OF_STOCK)"), "{text}");
        assert!(text.contains("39.98 EUR") && text.contains("19.99 EUR"), "{text}");
        assert!(text.contains("BOOK-0001"), "{text}");
        assert!(!text.contains('\u{1b}'), "no colour when plain");
        assert!(order(&body, Style { color: true }).contains('\u{1b}'), "colour on a TTY");
    }

    fn sample_history() -> History {
        let handlers =
            vec![("e1".to_owned(), vec![("inventory".to_owned(), false), ("order-lifecycle".to_owned(), true)])];
        let completed = BTreeMap::from([(
            ("inventory".to_owned(), "e1".to_owned()),
            DateTime::parse_from_rfc3339("2026-11-23T18:30:00.250Z").unwrap().with_timezone(&Utc),
        )]);
        build_history(
            "o1",
            vec![
                event("OrderPlaced", "e1", "2026-11-23T18:30:00.000Z", "o1"),
                event("OrderConfirmed", "e2", "2026-11-23T18:30:02.000Z", "o1"),
            ],
            &handlers,
            &completed,
        )
    }

    #[test]
    fn history_table_and_json() {
        let history = sample_history();
        let text = super::history(&history, PLAIN);
        assert!(text.contains("OrderPlaced") && text.contains("inventory") && text.contains("250 ms"), "{text}");
        assert!(text.contains("order-lifecycle (timer)") && text.contains("not yet"), "{text}");
        assert!(text.contains("Settled: OrderConfirmed 2.0 s after OrderPlaced"), "{text}");
        let document: Value = serde_json::from_str(&json(&history)).unwrap();
        assert_eq!(document["orderId"], "o1");
        assert_eq!(document["events"][0]["type"], "orders.OrderPlaced.v1");
        assert_eq!(document["events"][0]["eventType"], "OrderPlaced");
        assert_eq!(document["events"][0]["handledBy"][0]["hopMs"], 250);
        assert_eq!(document["events"][0]["handledBy"][1]["handledAt"], Value::Null);
        assert_eq!(document["settlement"]["settleMs"], 2000);
        assert!(document["events"][0].get("body").is_none(), "bodies stay out of the timeline");
        let unsettled = History {
            order_id: "o2".into(),
            events: vec![TimelineEntry {
                event: event("OrderPlaced", "e9", "2026-11-23T18:30:00Z", "o2"),
                handled_by: vec![Handling {
                    consumer: "billing".into(),
                    handled_at: None,
                    hop_ms: None,
                    delayed: false,
                }],
            }],
            settlement: None::<Settlement>,
        };
        assert!(super::history(&unsettled, PLAIN).contains("Not settled yet."));
    }

    #[test]
    fn dlq_list_table_and_json() {
        let list = vec![
            DlqSummary {
                name: "inventory".into(),
                queue_name: "s-inventory-dlq".into(),
                queue_url: "u1".into(),
                depth: 0,
                oldest_age_seconds: None,
            },
            DlqSummary {
                name: "billing".into(),
                queue_name: "s-billing-dlq".into(),
                queue_url: "u2".into(),
                depth: 3,
                oldest_age_seconds: Some(4000),
            },
        ];
        let text = dlqs(&list, PLAIN);
        let billing = text.lines().find(|line| line.contains("billing")).unwrap();
        assert!(billing.contains('3') && billing.contains("1 h 6 min"), "{text}");
        assert!(text.contains("3 message(s) wait"), "{text}");
        let document: Value = serde_json::from_str(&json(&list)).unwrap();
        assert_eq!(document[1]["depth"], 3);
        assert_eq!(document[1]["oldestAgeSeconds"], 4000);
        assert!(dlqs(&list[..1], PLAIN).contains("Every DLQ is empty."));
        let coloured = dlqs(&list, Style { color: true });
        assert!(coloured.contains('\u{1b}'), "the summary is coloured on a TTY");
        assert!(
            coloured.lines().filter(|l| l.contains("-dlq")).all(|l| !l.contains('\u{1b}')),
            "cells are not: {coloured}"
        );
    }

    #[test]
    fn dlq_show_table_and_json() {
        let contents = DlqContents {
            name: "billing".into(),
            queue_name: "s-billing-dlq".into(),
            depth: 2,
            messages: vec![
                DlqMessage {
                    message_id: "m1".into(),
                    sent_at: None,
                    receive_count: Some(6),
                    event: Decoded::Event {
                        event_type: "orders.OrderPlaced.v1".into(),
                        event_id: "e1".into(),
                        order_id: Some("o1".into()),
                    },
                    reason: Some("event failed permanently: declined by rule".into()),
                },
                DlqMessage {
                    message_id: "m2".into(),
                    sent_at: None,
                    receive_count: None,
                    event: Decoded::Undecodable { first_bytes: "not json".into() },
                    reason: None,
                },
            ],
        };
        let text = dlq_contents(&contents, PLAIN);
        assert!(text.contains("e1") && text.contains("declined by rule"), "{text}");
        assert!(
            text.contains("undecodable") && text.contains("\"not json\"") && text.contains("no failure logged"),
            "{text}"
        );
        assert!(text.contains("orderflow dlq redrive billing"), "{text}");
        let document: Value = serde_json::from_str(&json(&contents)).unwrap();
        assert_eq!(document["messages"][0]["event"]["kind"], "event");
        assert_eq!(document["messages"][0]["event"]["eventId"], "e1");
        assert_eq!(document["messages"][1]["event"]["kind"], "undecodable");
        assert_eq!(document["messages"][1]["event"]["firstBytes"], "not json");
    }

    #[test]
    fn redrive_outputs() {
        let started = RedriveStarted { name: "billing".into(), source_arn: "arn".into(), task_handle: "h1".into() };
        assert!(redrive_started(&started, PLAIN).contains("Task handle: h1"));
        assert_eq!(serde_json::from_str::<Value>(&json(&started)).unwrap()["taskHandle"], "h1");
        let status = RedriveStatus {
            name: "billing".into(),
            tasks: vec![crate::model::RedriveTask {
                task_handle: Some("h1".into()),
                status: "RUNNING".into(),
                moved: 2,
                to_move: Some(5),
                rate: Some(10),
                started_at: None,
                failure_reason: None,
            }],
        };
        let text = redrive_status(&status, PLAIN);
        assert!(text.contains("RUNNING") && text.contains("10/s") && text.contains("h1"), "{text}");
        assert!(redrive_status(&RedriveStatus { name: "x".into(), tasks: vec![] }, PLAIN).contains("No redrive"));
        let cancelled = RedriveCancelled { name: "billing".into(), task_handle: "h1".into(), moved: 2 };
        assert!(redrive_cancelled(&cancelled, PLAIN).contains("after 2 message(s)"));
    }

    #[test]
    fn replay_outputs() {
        let mut report = ReplayReport {
            consumer: "loyalty".into(),
            queue_name: "s-loyalty".into(),
            dry_run: true,
            sent: 0,
            selected: 1,
            skipped: 2,
            events: vec![event("OrderConfirmed", "e2", "2026-11-23T18:30:00Z", "o1")],
        };
        let text = replay(&report, PLAIN);
        assert!(text.contains("Would send 1 event(s) to loyalty") && text.contains("OrderConfirmed v1"), "{text}");
        assert!(text.contains("Skipped 2"), "{text}");
        let document: Value = serde_json::from_str(&json(&report)).unwrap();
        assert_eq!(document["events"][0]["eventId"], "e2");
        assert_eq!(
            (document["sent"].as_u64(), document["selected"].as_u64()),
            (Some(0), Some(1)),
            "a dry run sends nothing"
        );
        report.dry_run = false;
        report.sent = 1;
        let text = replay(&report, PLAIN);
        assert!(text.contains("Sent 1 event(s) to loyalty (s-loyalty)."), "{text}");
        assert!(!text.contains("e2"), "a real run counts, it does not list: {text}");
        let document: Value = serde_json::from_str(&json(&report)).unwrap();
        assert_eq!(document["sent"], 1);
        assert_eq!(document["events"][0]["eventId"], "e2", "scripts see what was sent");
    }
}
