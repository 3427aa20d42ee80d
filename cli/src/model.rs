//! What the commands work on, as plain data, and the logic between AWS and the output: which
//! consumer a queue is, which consumers may handle an event, what an order's timeline is, which
//! stored events a replay sends. No AWS calls here, so all of it is unit-tested.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::policy::{Attributes, FilterPolicy, UnsupportedPolicy};

/// The consumer that keeps the event store: it receives everything and handles nothing of an
/// order, so it is no hop of a timeline.
pub const EVENT_STORE_CONSUMER: &str = "event-store";

/// One event as the event store keeps it (see the store's schema).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    pub event_id: String,
    /// The CloudEvent `type`, `orders.OrderPlaced.v1`.
    #[serde(rename = "type")]
    pub cloud_event_type: String,
    /// The SNS attribute `event_type`, `OrderPlaced`.
    pub event_type: String,
    pub event_version: String,
    pub source: String,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// `<time>#<eventId>`: the order of both indexes.
    #[serde(skip)]
    pub time_id: String,
    #[serde(skip)]
    pub body: String,
    #[serde(skip)]
    pub attributes: Attributes,
}

impl StoredEvent {
    pub fn parsed_time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time).ok().map(|time| time.with_timezone(&Utc))
    }
}

/// A queue subscribed to the stack's topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscriber {
    pub queue_name: String,
    pub queue_arn: String,
    /// The queue name without the `<stack>-` prefix (and without `-timer`): the consumer's
    /// SERVICE_NAME, which keys its idempotency records.
    pub consumer: String,
    /// A timer queue: the consumer gets the event after the queue's delay, on purpose.
    pub delayed: bool,
    pub policy: FilterPolicy,
}

impl Subscriber {
    /// From an SQS subscription endpoint (a queue ARN); `None` for a DLQ.
    pub fn from_queue_arn(stack: &str, queue_arn: &str, policy: FilterPolicy) -> Option<Subscriber> {
        let queue_name = queue_arn.rsplit(':').next().unwrap_or(queue_arn).to_owned();
        if queue_name.ends_with("-dlq") {
            return None;
        }
        let local = queue_name.strip_prefix(&format!("{stack}-")).unwrap_or(&queue_name);
        let (consumer, delayed) = match local.strip_suffix("-timer") {
            Some(consumer) => (consumer.to_owned(), true),
            None => (local.to_owned(), false),
        };
        Some(Subscriber { queue_arn: queue_arn.to_owned(), queue_name, consumer, delayed, policy })
    }

    /// `name` is this subscriber's consumer (`inventory` for `<stack>-inventory`) or its queue.
    pub fn is_named(&self, stack: &str, name: &str) -> bool {
        self.queue_name == name || self.queue_name == format!("{stack}-{name}")
    }
}

/// The subscriber `--to NAME` means.
pub fn find_subscriber<'a>(
    subscribers: &'a [Subscriber],
    stack: &str,
    name: &str,
) -> Result<&'a Subscriber, crate::CliError> {
    subscribers.iter().find(|subscriber| subscriber.is_named(stack, name)).ok_or_else(|| {
        crate::CliError::UnknownConsumer {
            name: name.to_owned(),
            known: subscribers.iter().map(|subscriber| short_name(stack, &subscriber.queue_name)).collect(),
        }
    })
}

/// A queue's name as the commands take it: without the `<stack>-` prefix when it has one.
pub fn short_name(stack: &str, queue_name: &str) -> String {
    queue_name.strip_prefix(&format!("{stack}-")).unwrap_or(queue_name).to_owned()
}

/// The name of a DLQ as the commands show it: `inventory` for `<stack>-inventory-dlq`.
pub fn dlq_name(stack: &str, queue_name: &str) -> String {
    let short = short_name(stack, queue_name);
    short.strip_suffix("-dlq").map(str::to_owned).unwrap_or(short)
}

/// Whether `name` (a consumer or a full queue name) means this DLQ.
pub fn is_dlq_named(stack: &str, queue_name: &str, name: &str) -> bool {
    queue_name == name || dlq_name(stack, queue_name) == name || short_name(stack, queue_name) == name
}

/// The output naming a DLQ's function: `InventoryDlqUrl` -> `InventoryFunctionName`;
/// `OrderLifecycleTimerDlqUrl` -> `OrderLifecycleFunctionName` (the timer feeds the same
/// function). The longest prefix, word by word, that names a function output.
pub fn function_output_for_dlq(dlq_output: &str, outputs: &BTreeMap<String, String>) -> Option<String> {
    let mut prefix = dlq_output.strip_suffix("DlqUrl")?;
    loop {
        let candidate = format!("{prefix}FunctionName");
        if outputs.contains_key(&candidate) {
            return Some(candidate);
        }
        // Drop the last PascalCase word.
        let cut = prefix.char_indices().rev().find(|(_, c)| c.is_ascii_uppercase()).map(|(index, _)| index)?;
        if cut == 0 {
            return None;
        }
        prefix = &prefix[..cut];
    }
}

// --- order history ------------------------------------------------------------------------------

/// A consumer that handled (or may yet handle) an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Handling {
    pub consumer: String,
    /// When its idempotency record was completed; `None`: not (yet) handled.
    pub handled_at: Option<DateTime<Utc>>,
    /// handled_at - event time.
    pub hop_ms: Option<i64>,
    /// Delivered through a timer queue: the delay is by design.
    pub delayed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    #[serde(flatten)]
    pub event: StoredEvent,
    pub handled_by: Vec<Handling>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    /// `OrderConfirmed` or `OrderCancelled`.
    pub outcome: String,
    pub settle_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub order_id: String,
    pub events: Vec<TimelineEntry>,
    pub settlement: Option<Settlement>,
}

/// The consumers that may handle this event: every subscriber whose policy accepts its
/// attributes, the event store aside; a consumer with a queue and a timer queue appears once
/// (its idempotency record is one, so the first accepting queue wins). A policy that cannot be
/// evaluated counts as accepting: the consumer's idempotency record then tells whether it did.
pub fn candidate_handlers<'a>(event: &StoredEvent, subscribers: &'a [Subscriber]) -> Vec<&'a Subscriber> {
    let mut handlers: Vec<&Subscriber> = Vec::new();
    for subscriber in subscribers {
        if subscriber.consumer == EVENT_STORE_CONSUMER {
            continue;
        }
        if subscriber.policy.accepts(&event.attributes).unwrap_or(true)
            && !handlers.iter().any(|handler| handler.consumer == subscriber.consumer)
        {
            handlers.push(subscriber);
        }
    }
    handlers
}

/// The timeline from the events (any order) and, per (consumer, event id), when the consumer
/// completed it.
pub fn build_history(
    order_id: &str,
    mut events: Vec<StoredEvent>,
    handlers: &[(String, Vec<(String, bool)>)],
    completed: &BTreeMap<(String, String), DateTime<Utc>>,
) -> History {
    events.sort_by(|a, b| a.time_id.cmp(&b.time_id));
    let handlers: BTreeMap<&str, &Vec<(String, bool)>> =
        handlers.iter().map(|(event_id, consumers)| (event_id.as_str(), consumers)).collect();
    let entries: Vec<TimelineEntry> = events
        .into_iter()
        .map(|event| {
            let time = event.parsed_time();
            let handled_by = handlers
                .get(event.event_id.as_str())
                .map(|consumers| {
                    consumers
                        .iter()
                        .map(|(consumer, delayed)| {
                            let handled_at = completed.get(&(consumer.clone(), event.event_id.clone())).copied();
                            let hop_ms = handled_at.zip(time).map(|(at, time)| (at - time).num_milliseconds());
                            Handling { consumer: consumer.clone(), handled_at, hop_ms, delayed: *delayed }
                        })
                        .collect()
                })
                .unwrap_or_default();
            TimelineEntry { event, handled_by }
        })
        .collect();
    let placed =
        entries.iter().find(|entry| entry.event.event_type == "OrderPlaced").and_then(|e| e.event.parsed_time());
    let settled = entries
        .iter()
        .find(|entry| matches!(entry.event.event_type.as_str(), "OrderConfirmed" | "OrderCancelled"))
        .and_then(|entry| entry.event.parsed_time().map(|time| (entry.event.event_type.clone(), time)));
    let settlement = placed
        .zip(settled)
        .map(|(placed, (outcome, settled))| Settlement { outcome, settle_ms: (settled - placed).num_milliseconds() });
    History { order_id: order_id.to_owned(), events: entries, settlement }
}

// --- DLQs ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqSummary {
    pub name: String,
    pub queue_name: String,
    pub queue_url: String,
    /// Visible + in flight.
    pub depth: u64,
    /// Age of the oldest message seen when peeking; `None` when empty.
    pub oldest_age_seconds: Option<i64>,
}

/// What a DLQ message holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Decoded {
    #[serde(rename_all = "camelCase")]
    Event { event_type: String, event_id: String, order_id: Option<String> },
    #[serde(rename_all = "camelCase")]
    Undecodable { first_bytes: String },
}

impl Decoded {
    pub fn event_id(&self) -> Option<&str> {
        match self {
            Decoded::Event { event_id, .. } => Some(event_id),
            Decoded::Undecodable { .. } => None,
        }
    }
}

/// Reads a message body as a CloudEvent (also inside an SNS envelope, for a queue without raw
/// delivery), generically: an unknown type is still named.
pub fn decode_body(body: &str) -> Decoded {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let event = parsed.and_then(|value| match value.get("Type").and_then(Value::as_str) {
        Some("Notification") => value.get("Message").and_then(Value::as_str).and_then(|m| serde_json::from_str(m).ok()),
        _ => Some(value),
    });
    let fields = event.as_ref().and_then(|event| {
        let id = event.get("id")?.as_str()?.to_owned();
        let event_type = event.get("type")?.as_str()?.to_owned();
        let order_id = event
            .get("subject")
            .and_then(Value::as_str)
            .or_else(|| event.get("data").and_then(|data| data.get("orderId")).and_then(Value::as_str))
            .map(str::to_owned);
        Some(Decoded::Event { event_type, event_id: id, order_id })
    });
    fields.unwrap_or_else(|| Decoded::Undecodable { first_bytes: first_chars(body, 60) })
}

fn first_chars(text: &str, count: usize) -> String {
    let mut shown: String = text.chars().take(count).collect();
    if text.chars().count() > count {
        shown.push('…');
    }
    shown
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqMessage {
    pub message_id: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub receive_count: Option<u32>,
    pub event: Decoded,
    /// The last WARN/ERROR line the consumer logged for it.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqContents {
    pub name: String,
    pub queue_name: String,
    pub depth: u64,
    pub messages: Vec<DlqMessage>,
}

/// The reason a consumer logged for a message: among its JSON log lines that mention one of
/// `needles` (the event id, the message id), the last WARN or ERROR one, as
/// `<message>: <error or reason>`.
pub fn reason_from_logs(lines: &[String], needles: &[&str]) -> Option<String> {
    lines
        .iter()
        .rev()
        .filter(|line| needles.iter().any(|needle| !needle.is_empty() && line.contains(needle)))
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .find(|line| {
            let level = line.get("level").and_then(Value::as_str).unwrap_or_default();
            level.eq_ignore_ascii_case("ERROR") || level.eq_ignore_ascii_case("WARN")
        })
        .map(|line| {
            let message = line.get("message").and_then(Value::as_str).unwrap_or("failed");
            let detail = ["error", "reason"].iter().find_map(|field| line.get(*field).and_then(Value::as_str));
            match detail {
                Some(detail) => format!("{message}: {detail}"),
                None => message.to_owned(),
            }
        })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveStarted {
    pub name: String,
    pub source_arn: String,
    pub task_handle: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveTask {
    pub task_handle: Option<String>,
    pub status: String,
    pub moved: i64,
    pub to_move: Option<i64>,
    pub rate: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveStatus {
    pub name: String,
    pub tasks: Vec<RedriveTask>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveCancelled {
    pub name: String,
    pub task_handle: String,
    pub moved: i64,
}

// --- replay -------------------------------------------------------------------------------------

/// What `replay` selects from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayFilter {
    pub event_type: Option<String>,
    pub order_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl ReplayFilter {
    /// `--type` as the store's `eventType`: `OrderConfirmed`, also given as `orders.OrderConfirmed.v1`.
    pub fn short_type(&self) -> Option<String> {
        self.event_type.as_deref().map(|event_type| {
            let parts: Vec<&str> = event_type.split('.').collect();
            match parts.as_slice() {
                [_, name, version] if version.starts_with('v') => (*name).to_owned(),
                _ => event_type.to_owned(),
            }
        })
    }

    pub fn keeps(&self, event: &StoredEvent) -> bool {
        if self.short_type().is_some_and(|event_type| event.event_type != event_type) {
            return false;
        }
        if self.order_id.as_ref().is_some_and(|order| event.order_id.as_ref() != Some(order)) {
            return false;
        }
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(time) = event.parsed_time() else { return false };
        self.since.is_none_or(|since| time >= since) && self.until.is_none_or(|until| time < until)
    }
}

/// The events to send (in store order) and how many the filter or the policy left out.
pub fn select_for_replay(
    events: Vec<StoredEvent>,
    filter: &ReplayFilter,
    policy: &FilterPolicy,
) -> Result<(Vec<StoredEvent>, usize), UnsupportedPolicy> {
    let mut events = events;
    events.sort_by(|a, b| a.time_id.cmp(&b.time_id));
    let total = events.len();
    let mut kept = Vec::with_capacity(total);
    for event in events {
        if filter.keeps(&event) && policy.accepts(&event.attributes)? {
            kept.push(event);
        }
    }
    let skipped = total - kept.len();
    Ok((kept, skipped))
}

/// SendMessageBatch limits: 10 entries, 256 KiB of bodies and attributes together.
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;

fn payload_size(event: &StoredEvent) -> usize {
    event.body.len()
        + event
            .attributes
            .iter()
            .map(|(name, attribute)| {
                name.len() + attribute.data_type.len() + attribute.string_value.as_ref().map_or(0, String::len)
            })
            .sum::<usize>()
}

/// The events in consecutive batches SendMessageBatch accepts. An event too large for any batch
/// goes alone (SQS then refuses it, and the replay reports it failed).
pub fn send_batches(events: &[StoredEvent]) -> Vec<&[StoredEvent]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, event) in events.iter().enumerate() {
        let size = payload_size(event);
        if index > start && (index - start == BATCH_ENTRIES || bytes + size > BATCH_BYTES) {
            batches.push(&events[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < events.len() {
        batches.push(&events[start..]);
    }
    batches
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    pub consumer: String,
    pub queue_name: String,
    pub dry_run: bool,
    /// Sent to the queue (0 with --dry-run).
    pub sent: usize,
    /// Selected to send: what a dry run would send.
    pub selected: usize,
    /// Read from the store but left out by the filter or the consumer's policy.
    pub skipped: usize,
    /// The selected events, in time order (sent, or with --dry-run: would be sent).
    pub events: Vec<StoredEvent>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::Attribute;

    pub(crate) fn event(event_type: &str, id: &str, time: &str, order: &str) -> StoredEvent {
        let attributes: Attributes = [
            ("event_type".to_owned(), Attribute { data_type: "String".into(), string_value: Some(event_type.into()) }),
            ("event_version".to_owned(), Attribute { data_type: "String".into(), string_value: Some("1".into()) }),
        ]
        .into_iter()
        .collect();
        StoredEvent {
            event_id: id.into(),
            cloud_event_type: format!("orders.{event_type}.v1"),
            event_type: event_type.into(),
            event_version: "1".into(),
            source: "orderflow/order-api".into(),
            time: time.into(),
            order_id: Some(order.into()),
            correlation_id: Some("corr-1".into()),
            time_id: format!("{time}#{id}"),
            body: format!(r#"{{"id":"{id}","type":"orders.{event_type}.v1"}}"#),
            attributes,
        }
    }

    pub(crate) fn subscriber(stack: &str, queue: &str, policy: &str) -> Subscriber {
        Subscriber::from_queue_arn(
            stack,
            &format!("arn:aws:sqs:us-east-1:000000000000:{queue}"),
            FilterPolicy::parse(Some(policy)).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn queue_names_map_to_consumers() {
        let timer = subscriber("s", "s-order-lifecycle-timer", r#"{"event_type":["OrderPlaced"]}"#);
        assert_eq!((timer.consumer.as_str(), timer.delayed), ("order-lifecycle", true));
        let other = subscriber("s", "loyalty-stack-queue", "");
        assert_eq!(other.consumer, "loyalty-stack-queue");
        assert!(
            Subscriber::from_queue_arn("s", "arn:aws:sqs:r:1:s-inventory-dlq", FilterPolicy::accept_all()).is_none()
        );
        let inventory = subscriber("s", "s-inventory", "");
        assert!(inventory.is_named("s", "inventory") && inventory.is_named("s", "s-inventory"));
        assert!(!inventory.is_named("s", "billing"));
        let all = [inventory, other];
        assert_eq!(find_subscriber(&all, "s", "loyalty-stack-queue").unwrap().queue_name, "loyalty-stack-queue");
        let error = find_subscriber(&all, "s", "nope").unwrap_err();
        assert!(error.to_string().contains("known: inventory, loyalty-stack-queue"), "{error}");
    }

    #[test]
    fn dlq_names_and_function_outputs() {
        assert_eq!(dlq_name("s", "s-inventory-dlq"), "inventory");
        assert_eq!(dlq_name("s", "s-order-lifecycle-timer-dlq"), "order-lifecycle-timer");
        assert!(is_dlq_named("s", "s-billing-dlq", "billing"));
        assert!(is_dlq_named("s", "s-billing-dlq", "s-billing-dlq"));
        assert!(!is_dlq_named("s", "s-billing-dlq", "inventory"));
        let outputs: BTreeMap<String, String> = ["InventoryFunctionName", "OrderLifecycleFunctionName"]
            .iter()
            .map(|k| ((*k).to_owned(), "f".to_owned()))
            .collect();
        assert_eq!(function_output_for_dlq("InventoryDlqUrl", &outputs).as_deref(), Some("InventoryFunctionName"));
        assert_eq!(
            function_output_for_dlq("OrderLifecycleTimerDlqUrl", &outputs).as_deref(),
            Some("OrderLifecycleFunctionName")
        );
        assert_eq!(function_output_for_dlq("BillingDlqUrl", &outputs), None);
    }

    #[test]
    fn handlers_follow_the_policies_and_skip_the_store() {
        let subscribers = [
            subscriber("s", "s-inventory", r#"{"event_type":["OrderPlaced","OrderConfirmed"],"event_version":["1"]}"#),
            subscriber("s", "s-shipping", r#"{"event_type":["OrderConfirmed"],"event_version":["1"]}"#),
            subscriber("s", "s-order-lifecycle-timer", r#"{"event_type":["OrderPlaced"],"event_version":["1"]}"#),
            subscriber("s", "s-event-store", ""),
        ];
        let placed = event("OrderPlaced", "e1", "2026-11-23T18:30:00.000Z", "o1");
        let names: Vec<(&str, bool)> = candidate_handlers(&placed, &subscribers)
            .iter()
            .map(|handler| (handler.consumer.as_str(), handler.delayed))
            .collect();
        assert_eq!(names, vec![("inventory", false), ("order-lifecycle", true)]);
    }

    #[test]
    fn history_orders_events_computes_hops_and_settlement() {
        let placed = event("OrderPlaced", "e1", "2026-11-23T18:30:00.000Z", "o1");
        let confirmed = event("OrderConfirmed", "e2", "2026-11-23T18:30:01.500Z", "o1");
        let handlers = vec![
            ("e1".to_owned(), vec![("inventory".to_owned(), false), ("billing".to_owned(), false)]),
            ("e2".to_owned(), vec![("shipping".to_owned(), false)]),
        ];
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
        let completed: BTreeMap<(String, String), DateTime<Utc>> = [
            (("inventory".to_owned(), "e1".to_owned()), at("2026-11-23T18:30:00.250Z")),
            (("shipping".to_owned(), "e2".to_owned()), at("2026-11-23T18:30:02.000Z")),
        ]
        .into_iter()
        .collect();
        let history = build_history("o1", vec![confirmed, placed], &handlers, &completed);
        assert_eq!(history.events[0].event.event_id, "e1");
        assert_eq!(history.events[0].handled_by[0].hop_ms, Some(250));
        assert_eq!(history.events[0].handled_by[1].handled_at, None, "billing has no record");
        assert_eq!(history.events[1].handled_by[0].hop_ms, Some(500));
        assert_eq!(history.settlement, Some(Settlement { outcome: "OrderConfirmed".into(), settle_ms: 1500 }));
    }

    #[test]
    fn bodies_decode_generically() {
        let decoded = decode_body(r#"{"id":"e1","type":"orders.Unknown.v9","subject":"o1"}"#);
        assert_eq!(
            decoded,
            Decoded::Event {
                event_type: "orders.Unknown.v9".into(),
                event_id: "e1".into(),
                order_id: Some("o1".into())
            }
        );
        let wrapped =
            serde_json::json!({"Type": "Notification", "Message": r#"{"id":"e2","type":"t","data":{"orderId":"o2"}}"#});
        assert_eq!(decode_body(&wrapped.to_string()).event_id(), Some("e2"));
        let Decoded::Undecodable { first_bytes } = decode_body(&"x".repeat(100)) else { panic!("decoded") };
        assert_eq!(first_bytes.chars().count(), 61);
    }

    #[test]
    fn the_reason_is_the_last_warning_about_the_message() {
        let lines = vec![
            r#"{"level":"INFO","message":"event processed","span":{"event_id":"e0"}}"#.to_owned(),
            r#"{"level":"WARN","message":"event failed; message will be retried","error":"timeout","span":{"event_id":"e1"}}"#.to_owned(),
            "START RequestId: e1 Version: $LATEST".to_owned(),
            r#"{"level":"ERROR","message":"event failed permanently; it will reach the DLQ after its retries","error":"unknown sku X","span":{"event_id":"e1"}}"#.to_owned(),
            r#"{"level":"ERROR","message":"undecodable message","kind":"json","reason":"expected value","span":{"message_id":"m9"}}"#.to_owned(),
        ];
        assert_eq!(
            reason_from_logs(&lines, &["e1"]).as_deref(),
            Some("event failed permanently; it will reach the DLQ after its retries: unknown sku X")
        );
        assert_eq!(reason_from_logs(&lines, &["", "m9"]).as_deref(), Some("undecodable message: expected value"));
        assert_eq!(reason_from_logs(&lines, &["e0"]), None, "INFO lines are no reason");
    }

    #[test]
    fn batches_respect_the_count_and_the_size() {
        let small: Vec<StoredEvent> = (0..23).map(|i| event("OrderPlaced", &format!("e{i}"), "t", "o")).collect();
        let sizes: Vec<usize> = send_batches(&small).iter().map(|batch| batch.len()).collect();
        assert_eq!(sizes, vec![10, 10, 3]);
        let mut large = small[..5].to_vec();
        for event in &mut large {
            event.body = "x".repeat(100 * 1024);
        }
        let sizes: Vec<usize> = send_batches(&large).iter().map(|batch| batch.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1], "two 100 KiB bodies fit in 256 KiB, three do not");
        assert!(send_batches(&[]).is_empty());
    }

    #[test]
    fn replay_selection_applies_filter_and_policy() {
        let events = vec![
            event("OrderConfirmed", "e3", "2026-11-23T19:00:00Z", "o2"),
            event("OrderPlaced", "e1", "2026-11-23T18:00:00Z", "o1"),
            event("OrderConfirmed", "e2", "2026-11-23T18:30:00Z", "o1"),
        ];
        let policy = FilterPolicy::parse(Some(r#"{"event_type":["OrderConfirmed"],"event_version":["1"]}"#)).unwrap();
        let (kept, skipped) = select_for_replay(events.clone(), &ReplayFilter::default(), &policy).unwrap();
        assert_eq!(kept.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), vec!["e2", "e3"]);
        assert_eq!(skipped, 1);
        let filter = ReplayFilter {
            since: Some(DateTime::parse_from_rfc3339("2026-11-23T18:15:00Z").unwrap().with_timezone(&Utc)),
            until: Some(DateTime::parse_from_rfc3339("2026-11-23T19:00:00Z").unwrap().with_timezone(&Utc)),
            ..ReplayFilter::default()
        };
        let (kept, _) = select_for_replay(events.clone(), &filter, &FilterPolicy::accept_all()).unwrap();
        assert_eq!(kept.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), vec!["e2"], "until is exclusive");
        let filter = ReplayFilter { event_type: Some("orders.OrderPlaced.v1".into()), ..ReplayFilter::default() };
        let (kept, _) = select_for_replay(events, &filter, &FilterPolicy::accept_all()).unwrap();
        assert_eq!(kept.len(), 1);
    }
}
