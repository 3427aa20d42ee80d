//! The commands against a real LocalStack, on a small stack of the shapes the CLI reads
//! (`localstack-stack.yaml`: no functions, so no Lambda build). Ignored by default; run it with a
//! LocalStack up:
//!
//! ```sh
//! export LOCALSTACK_PORT=4577 LOCALSTACK_STATE_DIR=.localstack-4577   # beside a LocalStack on 4566
//! localstack/start
//! cargo test -p orderflow-cli --test localstack -- --ignored            # ~5 s
//! localstack/stop
//! ```
//!
//! The end-to-end suites (e2e/tests) drive the same commands against the deployed system.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

const TEMPLATE: &str = include_str!("localstack-stack.yaml");
const ORDER: &str = "0193a5d2-7c1d-7000-8000-0123456789ab";

async fn orderflow(stack: &str, args: &[&str]) -> Value {
    let mut argv = vec!["orderflow", "--local", "--json", "--stack", stack];
    argv.extend_from_slice(args);
    let out = orderflow_cli::run_to_string(argv.clone()).await.unwrap_or_else(|error| {
        panic!("{argv:?}: {}", orderflow_cli::chain(&error));
    });
    serde_json::from_str(&out).unwrap_or_else(|error| panic!("{argv:?} printed no JSON ({error}): {out}"))
}

struct Clients {
    cloudformation: aws_sdk_cloudformation::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

async fn clients() -> Clients {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(orderflow_cli::aws::local_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "test"))
        .load()
        .await;
    Clients {
        cloudformation: aws_sdk_cloudformation::Client::new(&config),
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
        logs: aws_sdk_cloudwatchlogs::Client::new(&config),
    }
}

async fn create_stack(clients: &Clients, stack: &str) -> HashMap<String, String> {
    clients.cloudformation.create_stack().stack_name(stack).template_body(TEMPLATE).send().await.expect("CreateStack");
    for _ in 0..60 {
        let described =
            clients.cloudformation.describe_stacks().stack_name(stack).send().await.expect("DescribeStacks");
        let described = described.stacks.unwrap_or_default().into_iter().next().expect("the stack");
        match described.stack_status().map(|status| status.as_str().to_owned()).unwrap_or_default().as_str() {
            "CREATE_COMPLETE" => {
                return described
                    .outputs
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|o| Some((o.output_key?, o.output_value?)))
                    .collect();
            }
            status if status.contains("FAILED") || status.contains("ROLLBACK") => panic!("stack {stack}: {status}"),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    panic!("stack {stack} not created in 30 s");
}

/// Three events of one order in the store, the handling records of two hops.
async fn seed_store(clients: &Clients, outputs: &HashMap<String, String>) -> Vec<(String, String)> {
    let events = [
        ("e-placed-1", "OrderPlaced", "2026-11-23T18:30:00.000Z", "orderflow/order-api"),
        ("e-stock-2", "StockReserved", "2026-11-23T18:30:00.300Z", "inventory"),
        ("e-confirmed-3", "OrderConfirmed", "2026-11-23T18:30:01.200Z", "order-lifecycle"),
    ];
    let s = |value: &str| AttributeValue::S(value.to_owned());
    let mut bodies = Vec::new();
    for (id, event_type, time, source) in events {
        let body = json!({"specversion": "1.0", "id": id, "type": format!("orders.{event_type}.v1"), "source": source,
            "time": time, "subject": ORDER, "correlationid": "corr-42", "data": {"orderId": ORDER}})
        .to_string();
        let attributes = json!({"event_type": {"DataType": "String", "StringValue": event_type},
            "event_version": {"DataType": "String", "StringValue": "1"}})
        .to_string();
        clients
            .dynamodb
            .put_item()
            .table_name(&outputs["EventStoreTableName"])
            .item("eventId", s(id))
            .item("type", s(&format!("orders.{event_type}.v1")))
            .item("eventType", s(event_type))
            .item("eventVersion", s("1"))
            .item("source", s(source))
            .item("time", s(time))
            .item("orderId", s(ORDER))
            .item("correlationId", s("corr-42"))
            .item("timeId", s(&format!("{time}#{id}")))
            .item("body", s(&body))
            .item("attributes", s(&attributes))
            .item("storedAt", AttributeValue::N("1".into()))
            .send()
            .await
            .expect("PutItem event");
        bodies.push((id.to_owned(), body));
    }
    for (pk, completed_ms) in [("inventory#e-placed-1", Some(1_795_458_600_250_i64)), ("shipping#e-confirmed-3", None)]
    {
        let mut put = clients
            .dynamodb
            .put_item()
            .table_name(&outputs["IdempotencyTableName"])
            .item("pk", s(pk))
            .item("status", s("COMPLETED"));
        put = match completed_ms {
            Some(ms) => put
                .item("completedAtMs", AttributeValue::N(ms.to_string()))
                .item("completedAt", AttributeValue::N((ms / 1000).to_string())),
            // 2026-11-23T18:30:02Z: an old record, seconds only.
            None => put.item("completedAt", AttributeValue::N("1795458602".into())),
        };
        put.send().await.expect("PutItem idempotency");
    }
    bodies
}

/// Dead-letters two messages the way SQS does (maxReceiveCount receives) and logs the
/// consumer's failure of the first.
async fn seed_dlq(clients: &Clients, outputs: &HashMap<String, String>, stack: &str) {
    let queue = &outputs["InventoryQueueUrl"];
    clients
        .sqs
        .send_message()
        .queue_url(queue)
        .message_body(json!({"id": "e-poison", "type": "orders.OrderPlaced.v1", "subject": ORDER}).to_string())
        .send()
        .await
        .expect("SendMessage");
    clients.sqs.send_message().queue_url(queue).message_body("not an event at all").send().await.expect("SendMessage");
    for _ in 0..8 {
        clients
            .sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("ReceiveMessage");
    }
    let group = format!("/aws/lambda/{stack}-inventory-fn");
    clients.logs.create_log_group().log_group_name(&group).send().await.expect("CreateLogGroup");
    clients.logs.create_log_stream().log_group_name(&group).log_stream_name("s").send().await.expect("CreateLogStream");
    let now = chrono::Utc::now().timestamp_millis();
    let lines = [
        json!({"level": "WARN", "message": "event failed; message will be retried", "error": "throttled", "span": {"event_id": "e-poison"}}),
        json!({"level": "ERROR", "message": "event failed permanently; it will reach the DLQ after its retries", "error": "unknown sku BOOK-X", "span": {"event_id": "e-poison"}}),
    ];
    let mut put = clients.logs.put_log_events().log_group_name(&group).log_stream_name("s");
    for (index, line) in lines.iter().enumerate() {
        put = put.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now + i64::try_from(index).unwrap())
                .message(line.to_string())
                .build()
                .unwrap(),
        );
    }
    put.send().await.expect("PutLogEvents");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs LocalStack (LOCALSTACK_PORT); see the module docs"]
async fn every_command_against_localstack() {
    let clients = clients().await;
    let stack = format!("cli-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let outputs = create_stack(&clients, &stack).await;
    let bodies = seed_store(&clients, &outputs).await;
    seed_dlq(&clients, &outputs, &stack).await;

    // order history: time order, producers, hops from completedAtMs and from completedAt.
    let history = orderflow(&stack, &["order", "history", ORDER]).await;
    let events = history["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{history:#}");
    assert_eq!(events[0]["type"], "orders.OrderPlaced.v1");
    assert_eq!(events[0]["handledBy"][0]["consumer"], "inventory", "{history:#}");
    assert_eq!(events[0]["handledBy"][0]["hopMs"], 250, "{history:#}");
    assert_eq!(events[0]["handledBy"][1]["consumer"], "order-lifecycle", "the timer queue: {history:#}");
    assert_eq!(events[0]["handledBy"][1]["delayed"], true);
    let shipping = events[2]["handledBy"].as_array().unwrap().iter().find(|h| h["consumer"] == "shipping").unwrap();
    assert_eq!(shipping["hopMs"], 800, "{history:#}");
    assert!(events.iter().flat_map(|e| e["handledBy"].as_array().unwrap()).all(|h| h["consumer"] != "event-store"));
    assert_eq!(history["settlement"], json!({"outcome": "OrderConfirmed", "settleMs": 1200}));

    // dlq: depth and age; dlq show: decoded, with the logged reason; nothing deleted.
    let listed = orderflow(&stack, &["dlq"]).await;
    let inventory = listed.as_array().unwrap().iter().find(|d| d["name"] == "inventory").unwrap().clone();
    assert_eq!(inventory["depth"], 2, "{listed:#}");
    assert!(inventory["oldestAgeSeconds"].is_i64(), "{listed:#}");
    let shown = orderflow(&stack, &["dlq", "show", "inventory"]).await;
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{shown:#}");
    let poison = messages.iter().find(|m| m["event"]["eventId"] == "e-poison").expect("decoded");
    assert_eq!(poison["event"]["orderId"], ORDER);
    assert_eq!(
        poison["reason"], "event failed permanently; it will reach the DLQ after its retries: unknown sku BOOK-X",
        "{shown:#}"
    );
    let undecodable = messages.iter().find(|m| m["event"]["kind"] == "undecodable").expect("undecodable");
    assert_eq!(undecodable["event"]["firstBytes"], "not an event at all");
    assert_eq!(
        orderflow(&stack, &["dlq", "show", &format!("{stack}-inventory-dlq")]).await["depth"],
        2,
        "by queue name"
    );

    // replay: the consumer's policy decides; the body and attributes go out as stored.
    let dry = orderflow(&stack, &["replay", "--to", "shipping", "--order", ORDER, "--dry-run"]).await;
    assert_eq!(
        (dry["sent"].as_u64(), dry["selected"].as_u64(), dry["skipped"].as_u64()),
        (Some(0), Some(1), Some(2)),
        "{dry:#}"
    );
    let sent = orderflow(&stack, &["replay", "--to", "shipping", "--type", "OrderConfirmed"]).await;
    assert_eq!(sent["sent"], 1, "{sent:#}");
    let received = clients
        .sqs
        .receive_message()
        .queue_url(&outputs["ShippingQueueUrl"])
        .message_attribute_names("All")
        .wait_time_seconds(2)
        .send()
        .await
        .expect("ReceiveMessage")
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body.as_deref(), Some(bodies[2].1.as_str()), "the body as stored");
    let attributes = received[0].message_attributes.clone().unwrap_or_default();
    assert_eq!(attributes["event_type"].string_value(), Some("OrderConfirmed"));
    assert_eq!(attributes["event_version"].string_value(), Some("1"));
    let error =
        orderflow_cli::run_to_string(["--local", "--stack", &stack, "replay", "--to", "billing"]).await.unwrap_err();
    assert!(error.to_string().contains("no consumer billing"), "{error}");

    // redrive: back to the source queue.
    let started = orderflow(&stack, &["dlq", "redrive", "inventory"]).await;
    assert!(started["taskHandle"].as_str().is_some_and(|h| !h.is_empty()), "{started:#}");
    let mut status = Value::Null;
    for _ in 0..40 {
        status = orderflow(&stack, &["dlq", "redrive-status", "inventory"]).await;
        if status["tasks"][0]["status"] == "COMPLETED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status["tasks"][0]["status"], "COMPLETED", "{status:#}");
    assert_eq!(status["tasks"][0]["moved"], 2, "{status:#}");
    let error = orderflow_cli::run_to_string(["--local", "--stack", &stack, "dlq", "redrive-cancel", "inventory"])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no running redrive"), "{error}");

    // A stack that is not there says how to deploy it.
    let error = orderflow_cli::run_to_string(["--local", "--stack", "no-such-stack", "dlq"]).await.unwrap_err();
    assert!(error.to_string().contains("make local-deploy"), "{error}");

    clients.cloudformation.delete_stack().stack_name(&stack).send().await.expect("DeleteStack");
}
