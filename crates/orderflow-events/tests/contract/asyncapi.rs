//! The AsyncAPI document parses, describes every event with its checked-in schema, and uses the
//! crate's constants for the SNS attributes and filter policies (one source of truth). Which
//! consumers and queues it lists is checked against `infra/consumers.yaml` by the infra tests;
//! here every listed subscription and operation must be consistent with the crate and with itself.

use std::collections::{BTreeMap, BTreeSet};

use orderflow_events::{EVENT_TYPE_ATTRIBUTE, EVENT_VERSION_ATTRIBUTE, OrderEvent, all_schemas, decode_message};
use serde_json::{Value, json};

use crate::{crate_path, read_fixture};

/// Parsed with serde_yaml_ng (anchors resolved), then viewed as JSON so paths read like the document.
fn document() -> Value {
    let text = read_fixture("asyncapi.yaml");
    serde_yaml_ng::from_str(&text).unwrap_or_else(|error| panic!("asyncapi.yaml does not parse: {error}"))
}

/// Per CloudEvents type: (`event_type` attribute, `event_version` attribute), from the constants.
/// The test below fails when a schema of `all_schemas()` has no row, so a new event cannot be
/// forgotten here.
fn attributes_by_type() -> BTreeMap<&'static str, (&'static str, &'static str)> {
    use orderflow_events as e;
    BTreeMap::from([
        (e::ORDER_PLACED_V1_TYPE, (e::ORDER_PLACED_EVENT_TYPE, e::ORDER_PLACED_V1_VERSION)),
        (e::STOCK_RESERVED_V1_TYPE, (e::STOCK_RESERVED_EVENT_TYPE, e::STOCK_RESERVED_V1_VERSION)),
        (e::STOCK_REJECTED_V1_TYPE, (e::STOCK_REJECTED_EVENT_TYPE, e::STOCK_REJECTED_V1_VERSION)),
        (e::PAYMENT_AUTHORIZED_V1_TYPE, (e::PAYMENT_AUTHORIZED_EVENT_TYPE, e::PAYMENT_AUTHORIZED_V1_VERSION)),
        (e::PAYMENT_DECLINED_V1_TYPE, (e::PAYMENT_DECLINED_EVENT_TYPE, e::PAYMENT_DECLINED_V1_VERSION)),
        (e::ORDER_CONFIRMED_V1_TYPE, (e::ORDER_CONFIRMED_EVENT_TYPE, e::ORDER_CONFIRMED_V1_VERSION)),
        (e::ORDER_CANCELLED_V1_TYPE, (e::ORDER_CANCELLED_EVENT_TYPE, e::ORDER_CANCELLED_V1_VERSION)),
    ])
}

/// `OrderPlaced` + `1` -> `OrderPlacedV1` (component) / `orderPlacedV1` (channel message).
fn component_name(event_type: &str, version: &str) -> String {
    format!("{event_type}V{version}")
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// The attributes a decoded event is published with, from the typed envelope.
fn message_attributes(event: &OrderEvent) -> [(&'static str, &'static str); 2] {
    match event {
        OrderEvent::OrderPlacedV1(e) => e.message_attributes(),
        OrderEvent::StockReservedV1(e) => e.message_attributes(),
        OrderEvent::StockRejectedV1(e) => e.message_attributes(),
        OrderEvent::PaymentAuthorizedV1(e) => e.message_attributes(),
        OrderEvent::PaymentDeclinedV1(e) => e.message_attributes(),
        OrderEvent::OrderConfirmedV1(e) => e.message_attributes(),
        OrderEvent::OrderCancelledV1(e) => e.message_attributes(),
        other => panic!("no attributes known for {}", other.event_type()),
    }
}

/// The `event_type` of the channel message a `$ref` like `#/channels/orderEvents/messages/x` names.
fn event_type_of(doc: &Value, reference: &str) -> String {
    let key = reference.strip_prefix("#/channels/orderEvents/messages/").unwrap_or_else(|| panic!("{reference}"));
    let target = doc["channels"]["orderEvents"]["messages"][key]["$ref"].as_str().unwrap_or_else(|| panic!("{key}"));
    let name = target.strip_prefix("#/components/messages/").unwrap_or_else(|| panic!("{target}"));
    let headers = &doc["components"]["messages"][name]["headers"]["properties"];
    headers[EVENT_TYPE_ATTRIBUTE]["const"].as_str().unwrap_or_else(|| panic!("{name}: event_type const")).to_owned()
}

fn operations<'a>(doc: &'a Value, action: &str) -> Vec<(&'a String, &'a Value)> {
    doc["operations"].as_object().expect("operations").iter().filter(|(_, op)| op["action"] == action).collect()
}

fn message_types(doc: &Value, op: &Value) -> BTreeSet<String> {
    op["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| event_type_of(doc, m["$ref"].as_str().expect("$ref")))
        .collect()
}

#[test]
fn asyncapi_document_describes_every_event_with_its_schema() {
    let doc = document();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["channels"]["orderEvents"]["address"], "OrderEventsTopic");
    let attributes = attributes_by_type();
    assert_eq!(attributes.len(), all_schemas().len(), "a schema without its attributes row in this test");

    let channel_messages = doc["channels"]["orderEvents"]["messages"].as_object().expect("channel messages");
    let components = doc["components"]["messages"].as_object().expect("component messages");
    assert_eq!(channel_messages.len(), all_schemas().len(), "one channel message per event, nothing else");
    assert_eq!(components.len(), all_schemas().len(), "one component message per event, nothing else");

    for (file, cloudevents_type, _) in all_schemas() {
        let (event_type, version) = attributes[cloudevents_type];
        let name = component_name(event_type, version);
        assert_eq!(
            doc["channels"]["orderEvents"]["messages"][lower_first(&name)]["$ref"],
            format!("#/components/messages/{name}"),
            "{cloudevents_type}: channel message"
        );
        let message = &doc["components"]["messages"][name.as_str()];
        assert_eq!(message["name"], cloudevents_type, "{name}");
        assert_eq!(message["contentType"], "application/cloudevents+json", "{name}");
        assert_eq!(message["correlationId"]["location"], "$message.payload#/correlationid", "{name}");

        // The payload is the checked-in generated schema, referenced relative to this document.
        assert_eq!(message["payload"]["schema"]["$ref"], format!("./{file}"), "{name}");
        assert!(crate_path(&file).is_file(), "{name}: {file} does not exist");
        assert_eq!(message["payload"]["schemaFormat"], "application/schema+json;version=draft-2020-12", "{name}");

        let headers = &message["headers"];
        assert_eq!(headers["required"], json!([EVENT_TYPE_ATTRIBUTE, EVENT_VERSION_ATTRIBUTE]), "{name}");
        assert_eq!(headers["properties"][EVENT_TYPE_ATTRIBUTE]["const"], event_type, "{name}");
        assert_eq!(headers["properties"][EVENT_VERSION_ATTRIBUTE]["const"], version, "{name}");
        let properties = headers["properties"].as_object().expect("header properties");
        assert_eq!(properties.len(), 2, "{name}: only the attributes the crate produces are documented");
    }
}

/// Each message's example is a valid fixture of that type, and the attributes the crate puts on
/// the decoded event are exactly the example's headers.
#[test]
fn asyncapi_examples_are_fixtures_carrying_the_documented_attributes() {
    let doc = document();
    for (name, message) in doc["components"]["messages"].as_object().expect("messages") {
        let example = &message["examples"][0];
        let fixture = example["x-fixture"].as_str().unwrap_or_else(|| panic!("{name}: example x-fixture"));
        assert!(fixture.starts_with("fixtures/valid/"), "{name}: {fixture} is not a valid fixture");
        let (event, _) = decode_message(&read_fixture(fixture)).unwrap_or_else(|error| panic!("{fixture}: {error}"));
        assert_eq!(event.event_type(), message["name"], "{name}: {fixture} is another type");
        let attributes = message_attributes(&event);
        assert_eq!(example["headers"].as_object().map(|h| h.len()), Some(attributes.len()), "{name}");
        for (attribute, value) in attributes {
            assert_eq!(example["headers"][attribute], value, "{name}: attribute {attribute}");
        }
    }
    // The first message keeps pointing at the example of the contract document.
    assert_eq!(
        doc["components"]["messages"]["OrderPlacedV1"]["examples"][0]["x-fixture"],
        "fixtures/valid/contract-example.json"
    );
}

/// Each event has exactly one send operation; its `x-source` is the CloudEvents `source` the
/// fixtures of its messages carry, and its `x-publisher` the function (or consumer) that publishes it.
#[test]
fn asyncapi_publishers_match_the_event_sources() {
    let doc = document();
    let mut published = Vec::new();
    for (name, op) in operations(&doc, "send") {
        assert_eq!(op["channel"]["$ref"], "#/channels/orderEvents", "{name}");
        let source = op["x-source"].as_str().unwrap_or_else(|| panic!("{name}: x-source"));
        assert!(op["x-publisher"].is_string(), "{name}: x-publisher");
        for reference in op["messages"].as_array().expect("messages") {
            let key = reference["$ref"].as_str().expect("$ref").rsplit('/').next().unwrap_or_default().to_owned();
            let component = doc["channels"]["orderEvents"]["messages"][key.as_str()]["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .unwrap_or_else(|| panic!("{name}: {key}"));
            let fixture = doc["components"]["messages"][component]["examples"][0]["x-fixture"]
                .as_str()
                .unwrap_or_else(|| panic!("{component}: x-fixture"));
            let (event, _) = decode_message(&read_fixture(fixture)).expect("example fixture decodes");
            assert_eq!(event.source(), source, "{name} sends {component}, whose source is {}", event.source());
            published.push(component.to_owned());
        }
    }
    let unique: BTreeSet<&String> = published.iter().collect();
    assert_eq!(unique.len(), published.len(), "an event is sent by two operations: {published:?}");
    assert_eq!(published.len(), all_schemas().len(), "every event has a send operation: {published:?}");

    let publisher_of = |event_type: &str| -> String {
        operations(&doc, "send")
            .into_iter()
            .find(|(_, op)| message_types(&doc, op).contains(event_type))
            .and_then(|(_, op)| op["x-publisher"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no publisher of {event_type}"))
    };
    // The lifecycle contract's "Who does what", by function.
    for (event_type, publisher) in [
        ("OrderPlaced", "order-api"),
        ("StockReserved", "inventory"),
        ("StockRejected", "inventory"),
        ("PaymentAuthorized", "billing"),
        ("PaymentDeclined", "billing"),
        ("OrderConfirmed", "order-lifecycle"),
        ("OrderCancelled", "order-lifecycle"),
    ] {
        assert_eq!(publisher_of(event_type), publisher, "{event_type}");
    }
}

/// A consumer's `publishes:` in infra/consumers.yaml is exactly what its send operation sends.
#[test]
fn asyncapi_publishers_match_consumers_yaml() {
    let doc = document();
    let path = crate_path("../../infra/consumers.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    // CloudFormation tags (!Ref ...) parse as tagged values; only names and lists are read here.
    let consumers: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("consumers.yaml parses");
    let consumers = consumers["consumers"].as_sequence().expect("consumers list");
    for consumer in consumers {
        let name = consumer["name"].as_str().expect("name");
        let publishes: BTreeSet<String> = consumer
            .get("publishes")
            .and_then(|p| p.as_sequence())
            .map(|p| p.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let sent: BTreeSet<String> = operations(&doc, "send")
            .into_iter()
            .filter(|(_, op)| op["x-publisher"] == name)
            .flat_map(|(_, op)| message_types(&doc, op))
            .collect();
        assert_eq!(sent, publishes, "{name}: send operations of x-publisher {name} vs its publishes in consumers.yaml");
    }
}

/// Every subscription (sns consumer of a send operation) uses this crate's attribute names and
/// values, is the same wherever it is listed, is listed under exactly the send operations whose
/// messages it lets through, and agrees with the receive operations on its queue.
#[test]
fn asyncapi_subscriptions_use_the_crate_constants_and_agree_with_the_receive_operations() {
    let doc = document();
    let known_types: BTreeSet<&str> = attributes_by_type().values().map(|(event_type, _)| *event_type).collect();

    // queue -> (subscription, the send operations listing it)
    let mut subscriptions: BTreeMap<String, (Value, BTreeSet<String>)> = BTreeMap::new();
    for (op_name, op) in operations(&doc, "send") {
        for consumer in op["bindings"]["sns"]["consumers"].as_array().expect("sns consumers") {
            let queue = consumer["endpoint"]["name"].as_str().expect("endpoint name").to_owned();
            let entry = subscriptions.entry(queue.clone()).or_insert_with(|| (consumer.clone(), BTreeSet::new()));
            assert_eq!(&entry.0, consumer, "{queue} is listed differently under {op_name}");
            entry.1.insert(op_name.clone());
        }
    }
    assert!(!subscriptions.is_empty(), "no subscriptions listed");

    // queue -> event types its receive operations take
    let mut receives: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (op_name, op) in operations(&doc, "receive") {
        assert_eq!(op["channel"]["$ref"], "#/channels/orderEvents", "{op_name}");
        let queue = op["bindings"]["sqs"]["queues"][0]["name"].as_str().expect("queue name").to_owned();
        let types = message_types(&doc, op);
        // Named <queue prefix>Receives<EventType>: one operation per queue and event.
        assert_eq!(types.len(), 1, "{op_name}: one message per receive operation");
        let prefix = queue.strip_suffix("Queue").unwrap_or_else(|| panic!("{queue} is not a <Name>Queue"));
        let event_type = types.iter().next().expect("one type");
        assert_eq!(op_name, &format!("{}Receives{event_type}", lower_first(prefix)), "operation name");
        let dlq = format!("{prefix}Dlq");
        let queues = op["bindings"]["sqs"]["queues"].as_array().expect("queues");
        assert_eq!(queues.len(), 2, "{op_name}: the queue and its DLQ");
        assert_eq!(queues[0]["redrivePolicy"]["deadLetterQueue"]["name"], dlq.as_str(), "{op_name}");
        assert_eq!(queues[1]["name"], dlq.as_str(), "{op_name}");
        assert!(receives.entry(queue).or_default().insert(event_type.clone()), "{op_name} is listed twice");
    }

    assert_eq!(
        subscriptions.keys().collect::<Vec<_>>(),
        receives.keys().collect::<Vec<_>>(),
        "every subscribed queue has receive operations, and every receiving queue a subscription"
    );
    for (queue, (subscription, listed_under)) in &subscriptions {
        let name = queue.strip_suffix("Queue").unwrap_or_else(|| panic!("{queue} is not a <Name>Queue"));
        assert_eq!(subscription["protocol"], "sqs", "{queue}");
        assert_eq!(subscription["rawMessageDelivery"], true, "{queue}");
        assert_eq!(subscription["filterPolicyScope"], "MessageAttributes", "{queue}");
        assert_eq!(subscription["redrivePolicy"]["deadLetterQueue"]["name"], format!("{name}Dlq"), "{queue}");

        let policy = subscription["filterPolicy"].as_object().expect("filterPolicy");
        let keys: Vec<&String> = policy.keys().collect();
        assert_eq!(keys, [EVENT_TYPE_ATTRIBUTE, EVENT_VERSION_ATTRIBUTE], "{queue}: filter on type and version");
        let types: BTreeSet<String> = policy[EVENT_TYPE_ATTRIBUTE]
            .as_array()
            .expect("event_type list")
            .iter()
            .map(|t| t.as_str().expect("a string").to_owned())
            .collect();
        for event_type in &types {
            assert!(known_types.contains(event_type.as_str()), "{queue}: unknown event type {event_type}");
        }
        // All v1 today: one version list admits exactly the listed types at that version, so a v2
        // published side by side never reaches a v1 queue.
        assert_eq!(
            policy[EVENT_VERSION_ATTRIBUTE],
            json!([orderflow_events::ORDER_PLACED_V1_VERSION]),
            "{queue}: a v2 published side by side must not reach a v1 queue"
        );
        assert_eq!(&types, &receives[queue], "{queue}: the filter lets through exactly what it receives");

        let should_be_under: BTreeSet<String> = operations(&doc, "send")
            .into_iter()
            .filter(|(_, op)| !message_types(&doc, op).is_disjoint(&types))
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(listed_under, &should_be_under, "{queue}: listed under the send operations of what it takes");
    }
}

/// The lifecycle's subscriptions, as the contract's "Who does what" says (the infra tests hold
/// consumers.yaml to the same document).
#[test]
fn asyncapi_subscriptions_follow_the_lifecycle_contract() {
    let doc = document();
    let mut filters: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, op) in operations(&doc, "send") {
        for consumer in op["bindings"]["sns"]["consumers"].as_array().expect("sns consumers") {
            let types = consumer["filterPolicy"][EVENT_TYPE_ATTRIBUTE]
                .as_array()
                .expect("types")
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect();
            filters.insert(consumer["endpoint"]["name"].as_str().expect("queue").to_owned(), types);
        }
    }
    let set = |types: &[&str]| types.iter().map(|t| (*t).to_owned()).collect::<BTreeSet<String>>();
    let settlement = ["OrderConfirmed", "OrderCancelled"];
    let expected = BTreeMap::from([
        ("InventoryQueue".to_owned(), set(&["OrderPlaced", "OrderConfirmed", "OrderCancelled"])),
        ("BillingQueue".to_owned(), set(&["OrderPlaced", "OrderConfirmed", "OrderCancelled"])),
        ("NotificationQueue".to_owned(), set(&settlement)),
        ("ShippingQueue".to_owned(), set(&["OrderConfirmed"])),
        (
            "OrderLifecycleQueue".to_owned(),
            set(&["StockReserved", "StockRejected", "PaymentAuthorized", "PaymentDeclined"]),
        ),
        ("OrderLifecycleTimerQueue".to_owned(), set(&["OrderPlaced"])),
    ]);
    assert_eq!(filters, expected);

    // The timer queue delays every OrderPlaced by the settle timeout (15 minutes by default).
    let timer = &doc["operations"]["orderLifecycleTimerReceivesOrderPlaced"]["bindings"]["sqs"]["queues"][0];
    assert_eq!(timer["name"], "OrderLifecycleTimerQueue");
    assert_eq!(timer["deliveryDelay"], 900);
    for queue in ["InventoryQueue", "OrderLifecycleQueue", "NotificationQueue"] {
        let prefix = lower_first(queue.trim_end_matches("Queue"));
        let op = operations(&doc, "receive")
            .into_iter()
            .find(|(name, _)| name.starts_with(&format!("{prefix}Receives")))
            .map(|(_, op)| op)
            .expect("a receive operation");
        assert!(op["bindings"]["sqs"]["queues"][0].get("deliveryDelay").is_none(), "{queue} is not delayed");
    }
}
