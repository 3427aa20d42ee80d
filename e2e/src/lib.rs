//! Support for the end-to-end tests and the demo: the deployed stack, real AWS SDK clients
//! pointed at LocalStack, the order API over HTTP, and read-back of what each consumer did.
//!
//! Nothing here imitates AWS: every call goes over HTTP to the LocalStack that `scripts/e2e`
//! started, against the stack that `infra/scripts/local-deploy` created from `infra/template.yaml`.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use orderflow_events::{OrderEvent, OrderPlacedEvent};
use serde_json::{Value, json};
use uuid::Uuid;

pub mod faults;
pub mod lifecycle;

pub mod spy;
pub mod storm;

/// Runs the `orderflow` command in process against the local stack with `--json`, as an
/// operator would run it, and returns what it printed.
pub async fn orderflow(args: &[&str]) -> Value {
    let mut argv = vec!["orderflow".to_owned(), "--local".to_owned(), "--stack".to_owned(), stack_name()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    argv.push("--json".to_owned());
    let mut out = Vec::new();
    if let Err(error) = orderflow_cli::run(argv.clone(), &mut out).await {
        panic!("{argv:?} failed: {error}\n{error:?}");
    }
    serde_json::from_slice(&out)
        .unwrap_or_else(|error| panic!("{argv:?} printed no JSON ({error}): {}", String::from_utf8_lossy(&out)))
}

/// Where LocalStack listens; `scripts/e2e` and `make demo` export it.
pub fn endpoint() -> String {
    std::env::var("LOCALSTACK_ENDPOINT").unwrap_or_else(|_| {
        let port = std::env::var("LOCALSTACK_PORT").unwrap_or_else(|_| "4566".into());
        format!("http://127.0.0.1:{port}")
    })
}

pub fn stack_name() -> String {
    std::env::var("STACK_NAME").unwrap_or_else(|_| "orderflow-local".into())
}

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("stack {stack} is not deployed or has no output {output} (run `make local-deploy`): {detail}")]
    Stack { stack: String, output: String, detail: String },
}

/// How the poison suite's undecodable message begins, so that the suites running beside it can
/// tell that message from a real dead letter.
pub const POISON_PREFIX: &str = "orderflow e2e poison: this is not an event";

/// A message attribute that marks a valid event a suite sends on purpose to end in a DLQ (the
/// redrive suite's), so that the suites running beside it can tell it from a real dead letter.
pub const EXPECTED_DEAD_LETTER_ATTRIBUTE: &str = "e2e_expected_dead_letter";

/// The deployed stack: its outputs and the physical names of its resources.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub outputs: HashMap<String, String>,
    /// Logical id -> physical id.
    pub resources: HashMap<String, String>,
}

impl Stack {
    pub fn output(&self, key: &str) -> &str {
        self.outputs.get(key).map(String::as_str).unwrap_or_else(|| panic!("stack output {key} is missing"))
    }

    pub fn resource(&self, logical_id: &str) -> &str {
        self.resources
            .get(logical_id)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("stack resource {logical_id} is missing"))
    }

    /// The API's base URL on LocalStack: `<endpoint>/_aws/execute-api/<api id>/<stage>`.
    /// (`ApiUrl` is the AWS-shaped URL, which needs DNS that loopback-only machines lack.)
    pub fn api_base_url(&self) -> String {
        let stage = self.output("ApiUrl").trim_end_matches('/').rsplit('/').next().unwrap_or("dev").to_owned();
        format!("{}/_aws/execute-api/{}/{}", endpoint(), self.output("ApiId"), stage)
    }
}

/// Real SDK clients for LocalStack, plus the deployed stack. Build one per test: SDK clients
/// keep connection pools bound to the Tokio runtime they were first used on, and every
/// `#[tokio::test]` has its own runtime.
pub struct Harness {
    pub stack: Stack,
    pub http: reqwest::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub lambda: aws_sdk_lambda::Client,
}

impl Harness {
    pub async fn connect() -> Harness {
        // Static test credentials: LocalStack accepts any, and no credential chain is probed.
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint())
            .region(Region::new(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into())))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "e2e"))
            .load()
            .await;
        let stack = load_stack(&aws_sdk_cloudformation::Client::new(&config), &stack_name())
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        Harness {
            stack,
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("HTTP client"),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
        }
    }

    // --- the order API --------------------------------------------------------------------

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.stack.api_base_url(), path)
    }

    /// `POST /orders` with a JSON body and optional extra headers.
    pub async fn post_order(&self, body: &Value, headers: &[(&str, &str)]) -> ApiResponse {
        let mut request =
            self.http.post(self.url("/orders")).header("content-type", "application/json").body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        ApiResponse::from(request.send().await.expect("POST /orders reached the API")).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> ApiResponse {
        ApiResponse::from(request.send().await.expect("request reached the API")).await
    }

    /// Places a valid order and returns its id, asserting the 201.
    pub async fn place_order(&self, order: &TestOrder) -> Uuid {
        let response = self.post_order(&order.body(), &[]).await;
        assert_eq!(response.status, 201, "POST /orders: {}", response.text);
        response.json["orderId"].as_str().and_then(|id| id.parse().ok()).expect("201 body has an orderId")
    }

    /// Places a valid order the way a careful client does: with an `Idempotency-Key`, retrying
    /// the same request on a gateway error or timeout (the function may have stored the order
    /// before it failed; the retry then replays the stored response instead of ordering twice).
    pub async fn place_order_with_retries(&self, order: &TestOrder, attempts: u32) -> Uuid {
        let key = format!("e2e-{}", Uuid::new_v4());
        let mut last = String::new();
        for attempt in 1..=attempts {
            let request = self
                .http
                .post(self.url("/orders"))
                .header("content-type", "application/json")
                .header("Idempotency-Key", &key)
                .body(order.body().to_string());
            match request.send().await {
                Ok(response) => {
                    let response = ApiResponse::from(response).await;
                    if response.status == 201 {
                        return response.json["orderId"].as_str().and_then(|id| id.parse().ok()).expect("orderId");
                    }
                    assert!(response.status >= 500, "POST /orders: {} {}", response.status, response.text);
                    last = format!("{} {}", response.status, response.text);
                }
                Err(error) => last = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        }
        panic!("POST /orders failed {attempts} times; last: {last}");
    }

    // --- stock ----------------------------------------------------------------------------

    /// Creates a SKU of this test's own with the given stock, so assertions on stock levels
    /// are exact while other tests run in parallel.
    pub async fn create_sku(&self, available: u64) -> String {
        let sku = format!("E2E-{}", &Uuid::new_v4().simple().to_string()[..12].to_uppercase());
        self.dynamodb
            .put_item()
            .table_name(self.stack.output("InventoryTableName"))
            .item("sku", AttributeValue::S(sku.clone()))
            .item("available", AttributeValue::N(available.to_string()))
            .item("reserved", AttributeValue::N("0".into()))
            .send()
            .await
            .expect("seed a test SKU");
        sku
    }

    /// `(available, reserved)` of a SKU.
    pub async fn stock(&self, sku: &str) -> (u64, u64) {
        let item = self.get_item(self.stack.output("InventoryTableName"), "sku", sku).await.expect("SKU exists");
        (number(&item, "available"), number(&item, "reserved"))
    }

    // --- what the consumers did -------------------------------------------------------------

    pub async fn reservation(&self, order_id: Uuid) -> Option<HashMap<String, AttributeValue>> {
        self.get_item(self.stack.resource("ReservationsTable"), "orderId", &order_id.to_string()).await
    }

    pub async fn payment(&self, order_id: Uuid) -> Option<HashMap<String, AttributeValue>> {
        self.get_item(self.stack.output("PaymentsTableName"), "orderId", &order_id.to_string()).await
    }

    pub async fn stored_order(&self, order_id: Uuid) -> Option<HashMap<String, AttributeValue>> {
        self.get_item(self.stack.output("OrdersTableName"), "orderId", &order_id.to_string()).await
    }

    async fn get_item(&self, table: &str, key: &str, value: &str) -> Option<HashMap<String, AttributeValue>> {
        self.dynamodb
            .get_item()
            .table_name(table)
            .key(key, AttributeValue::S(value.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }

    /// Every email LocalStack's SES accepted for this recipient.
    pub async fn emails_to(&self, recipient: &str) -> Vec<Value> {
        sent_emails(&self.http)
            .await
            .into_iter()
            .filter(|message| {
                message["Destination"]["ToAddresses"].as_array().is_some_and(|to| to.iter().any(|a| a == recipient))
            })
            .collect()
    }

    /// Every message now in a queue (received with a short visibility timeout, not deleted).
    pub async fn peek_queue(&self, queue_url: &str) -> Vec<String> {
        self.peek_messages(queue_url).await.into_iter().filter_map(|m| m.body).collect()
    }

    /// As [`Harness::peek_queue`], whole messages with their attributes.
    pub async fn peek_messages(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let mut all = Vec::new();
        for _ in 0..3 {
            let received = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(1)
                .wait_time_seconds(0)
                .message_attribute_names("All")
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            all.extend(messages);
        }
        all
    }

    pub async fn queue_depth(&self, queue_url: &str) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName::{
            ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
        };
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(ApproximateNumberOfMessages)
            .attribute_names(ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .unwrap_or_default();
        attributes.values().filter_map(|v| v.parse::<u64>().ok()).sum()
    }

    /// Every DLQ of the stack: the outputs ending in `DlqUrl` (the contract's rule for tools), so
    /// a consumer added to the template is covered without a list to keep here.
    pub fn dlq_urls(&self) -> Vec<&str> {
        let mut names: Vec<&String> = self.stack.outputs.keys().filter(|name| name.ends_with("DlqUrl")).collect();
        names.sort();
        assert!(!names.is_empty(), "the stack has no DlqUrl outputs");
        names.into_iter().map(|name| self.stack.output(name)).collect()
    }

    /// No DLQ holds a message, apart from those the poison and redrive suites put there on
    /// purpose (bodies starting with [`POISON_PREFIX`], messages carrying
    /// [`EXPECTED_DEAD_LETTER_ATTRIBUTE`]): the suites run in parallel against one stack, and
    /// those messages are the whole point of theirs.
    pub async fn assert_every_dlq_empty(&self) {
        for dlq in self.dlq_urls() {
            let dead: Vec<String> = self
                .peek_messages(dlq)
                .await
                .into_iter()
                .filter(|m| {
                    let expected =
                        m.message_attributes().is_some_and(|a| a.contains_key(EXPECTED_DEAD_LETTER_ATTRIBUTE));
                    !expected && !m.body().is_some_and(|body| body.starts_with(POISON_PREFIX))
                })
                .filter_map(|m| m.body)
                .collect();
            assert!(dead.is_empty(), "DLQ {dlq} is not empty: {dead:?}");
        }
    }

    /// The messages of a function's log group (`/aws/lambda/<function>`) that contain `needle`,
    /// read through CloudWatch Logs' FilterLogEvents (JSON protocol over plain HTTP: LocalStack
    /// takes any signature, and no Logs SDK is needed for one call).
    pub async fn log_messages(&self, function: &str, needle: &str) -> Vec<String> {
        let mut messages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = json!({
                "logGroupName": format!("/aws/lambda/{function}"),
                "filterPattern": format!("\"{needle}\""),
            });
            if let Some(token) = &token {
                request["nextToken"] = json!(token);
            }
            let response: Value = self
                .http
                .post(endpoint())
                .header("X-Amz-Target", "Logs_20140328.FilterLogEvents")
                .header("Content-Type", "application/x-amz-json-1.1")
                .header(
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/logs/aws4_request, SignedHeaders=host, \
                     Signature=e2e",
                )
                .body(request.to_string())
                .send()
                .await
                .expect("FilterLogEvents")
                .json()
                .await
                .expect("FilterLogEvents JSON");
            messages.extend(
                response["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|event| event["message"].as_str())
                    .filter(|message| message.contains(needle))
                    .map(str::to_owned),
            );
            match response["nextToken"].as_str() {
                Some(next) if token.as_deref() != Some(next) => token = Some(next.to_owned()),
                _ => return messages,
            }
        }
    }

    /// Publishes an event as its producer would: its body, with the SNS attributes `event_type`
    /// (`orders.OrderPlaced.v1` -> `OrderPlaced`) and `event_version`.
    pub async fn publish_event(&self, event: &OrderEvent) {
        let (event_type, version) = sns_attributes(event.event_type());
        self.publish_raw(&event.to_json(), &[("event_type", event_type), ("event_version", version)]).await;
    }

    /// `GET /orders/{id}`.
    pub async fn get_order(&self, order_id: Uuid) -> ApiResponse {
        self.send(self.http.get(self.url(&format!("/orders/{order_id}")))).await
    }

    /// `GET /orders/{id}` as a client that retries a 5xx does: under injected faults the API may
    /// answer 503 when its read fails (the contract allows it), which says nothing about the
    /// order. Up to 10 tries, 300 ms apart; the last answer otherwise.
    pub async fn get_order_retrying(&self, order_id: Uuid) -> ApiResponse {
        let mut response = self.get_order(order_id).await;
        for _ in 0..9 {
            if response.status < 500 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            response = self.get_order(order_id).await;
        }
        response
    }

    /// The stack output `name`, or a message that says which part of the stack is missing.
    pub fn table(&self, output: &str) -> &str {
        self.stack.output(output)
    }

    pub async fn shipment(&self, order_id: Uuid) -> Option<HashMap<String, AttributeValue>> {
        self.get_item(self.table("ShipmentsTableName"), "orderId", &order_id.to_string()).await
    }

    pub async fn notification(&self, order_id: Uuid) -> Option<HashMap<String, AttributeValue>> {
        self.get_item(self.table("NotificationsTableName"), "orderId", &order_id.to_string()).await
    }

    /// Every item of a table whose attribute `attribute` (a string) contains `needle`, all pages.
    pub async fn scan_containing(
        &self,
        table: &str,
        attribute: &str,
        needle: &str,
    ) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = Vec::new();
        let mut start_key = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(table)
                .filter_expression("contains(#a, :needle)")
                .expression_attribute_names("#a", attribute)
                .expression_attribute_values(":needle", AttributeValue::S(needle.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .expect("Scan");
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => return items,
            }
        }
    }

    /// The outbox entries whose event is about this order (every event's body names it).
    pub async fn outbox_entries(&self, order_id: Uuid) -> Vec<HashMap<String, AttributeValue>> {
        let table = self
            .stack
            .outputs
            .get("OutboxTableName")
            .cloned()
            .unwrap_or_else(|| self.stack.resource("OutboxTable").to_owned());
        self.scan_containing(&table, "body", &order_id.to_string()).await
    }

    /// Runs the outbox relay once with no grace period; returns its summary.
    pub async fn run_relay(&self) -> Value {
        let function = self.stack.resource("OutboxRelayFunction").to_owned();
        let invoked = self
            .lambda
            .invoke()
            .function_name(&function)
            .payload(aws_sdk_lambda::primitives::Blob::new(br#"{"graceSeconds": 0}"#.to_vec()))
            .send()
            .await
            .expect("Invoke the relay");
        assert!(invoked.function_error.is_none(), "relay failed: {:?}", invoked.payload);
        serde_json::from_slice(invoked.payload.as_ref().map(|p| p.as_ref()).unwrap_or(b"{}")).expect("JSON summary")
    }

    /// Publishes an event body straight to the topic, with the contract's message attributes.
    pub async fn publish_raw(&self, body: &str, attributes: &[(&str, &str)]) {
        let mut publish = self.sns.publish().topic_arn(self.stack.output("OrderEventsTopicArn")).message(body);
        for (name, value) in attributes {
            publish = publish.message_attributes(
                *name,
                aws_sdk_sns::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(*value)
                    .build()
                    .expect("attribute"),
            );
        }
        publish.send().await.expect("Publish");
    }
}

/// The SNS `event_type` and `event_version` of a CloudEvents type: `orders.OrderPlaced.v1` ->
/// (`OrderPlaced`, `1`).
pub fn sns_attributes(cloudevents_type: &str) -> (&str, &str) {
    let mut parts = cloudevents_type.split('.');
    let event_type = parts.nth(1).expect("a type of the form domain.Name.vN");
    let version = parts.next().and_then(|v| v.strip_prefix('v')).expect("a version suffix");
    (event_type, version)
}

/// A response of the order API, read whole.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// The body parsed as JSON (`Null` if it is not JSON).
    pub json: Value,
}

impl ApiResponse {
    async fn from(response: reqwest::Response) -> ApiResponse {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        ApiResponse { status, headers, text, json }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An order body with a customer of its own (unique id and email), so a test can find exactly
/// what happened to its orders while others run.
#[derive(Debug, Clone)]
pub struct TestOrder {
    pub customer_id: String,
    pub email: String,
    pub currency: String,
    pub items: Vec<(String, u32, u64)>,
    /// `shippingAddress` of the POST body, when the test gives one.
    pub shipping_address: Option<Value>,
}

impl TestOrder {
    pub fn new(items: Vec<(String, u32, u64)>) -> TestOrder {
        let tag = Uuid::new_v4().simple().to_string();
        TestOrder {
            customer_id: format!("cus_e2e_{}", &tag[..16]),
            email: format!("e2e-{}@example.com", &tag[..16]),
            currency: "EUR".into(),
            items,
            shipping_address: None,
        }
    }

    /// The same order, shipped to a fixed test address.
    pub fn with_shipping_address(mut self) -> TestOrder {
        self.shipping_address = Some(json!({
            "line1": "12 Analytical Row", "line2": "Flat 3", "city": "London", "postalCode": "NW1 6XE", "country": "GB"
        }));
        self
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "customer": { "id": self.customer_id, "email": self.email, "name": "E2E Test" },
            "currency": self.currency,
            "items": self.items.iter().map(|(sku, quantity, unit_price)| json!({
                "sku": sku, "quantity": quantity, "unitPrice": unit_price
            })).collect::<Vec<_>>(),
        });
        if let Some(address) = &self.shipping_address {
            body["shippingAddress"] = address.clone();
        }
        body
    }

    /// The customer as events carry it.
    pub fn customer(&self) -> orderflow_events::Customer {
        orderflow_events::Customer { id: self.customer_id.clone(), email: self.email.clone(), name: None }
    }

    /// The order as an OrderPlaced v1 event under `order_id` (for tests that publish it themselves).
    pub fn placed_event(&self, order_id: Uuid, placed_at: chrono::DateTime<chrono::Utc>) -> OrderPlacedEvent {
        let currency: orderflow_events::Currency = self.currency.parse().expect("an ISO 4217 code");
        let items = self
            .items
            .iter()
            .map(|(sku, quantity, price)| orderflow_events::LineItem {
                sku: sku.clone(),
                quantity: *quantity,
                unit_price: orderflow_events::Money::new(*price, currency),
            })
            .collect();
        let data = orderflow_events::OrderPlacedV1::new(order_id, self.customer(), items, placed_at).expect("valid");
        orderflow_events::CloudEvent::new(
            Uuid::now_v7(),
            orderflow_events::ORDER_SERVICE_SOURCE,
            chrono::Utc::now(),
            data,
        )
        .with_correlation_id(format!("e2e-{order_id}"))
    }

    pub fn money(&self, minor_units: u64) -> orderflow_events::Money {
        orderflow_events::Money::new(minor_units, self.currency.parse().expect("an ISO 4217 code"))
    }

    pub fn total(&self) -> u64 {
        self.items.iter().map(|(_, quantity, price)| u64::from(*quantity) * price).sum()
    }
}

/// Polls `probe` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every email LocalStack's SES has accepted (`GET /_aws/ses`).
pub async fn sent_emails(http: &reqwest::Client) -> Vec<Value> {
    let response: Value = http
        .get(format!("{}/_aws/ses", endpoint()))
        .send()
        .await
        .expect("LocalStack SES endpoint")
        .json()
        .await
        .expect("SES messages as JSON");
    response["messages"].as_array().cloned().unwrap_or_default()
}

pub fn string(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(value)) => value.clone(),
        other => panic!("attribute {name} is not a string: {other:?}"),
    }
}

/// A string attribute, if the item has one.
pub fn string_opt(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    }
}

/// A DynamoDB attribute as plain JSON (numbers as numbers), for comparing lists and maps.
pub fn attribute_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(n.parse::<f64>().ok())),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(list) => Value::Array(list.iter().map(attribute_json).collect()),
        AttributeValue::M(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect()),
        other => json!(format!("{other:?}")),
    }
}

pub fn number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value.parse().unwrap_or_else(|_| panic!("{name}={value} is not a u64")),
        other => panic!("attribute {name} is not a number: {other:?}"),
    }
}

async fn load_stack(cloudformation: &aws_sdk_cloudformation::Client, name: &str) -> Result<Stack, HarnessError> {
    let stack_error = |output: &str, detail: String| HarnessError::Stack {
        stack: name.to_owned(),
        output: output.to_owned(),
        detail,
    };
    let described = cloudformation
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|error| stack_error("*", format!("{error:?}")))?;
    let stack = described
        .stacks
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| stack_error("*", "no such stack".into()))?;
    let outputs: HashMap<String, String> = stack
        .outputs
        .unwrap_or_default()
        .into_iter()
        .filter_map(|output| Some((output.output_key?, output.output_value?)))
        .collect();
    let resources = cloudformation
        .describe_stack_resources()
        .stack_name(name)
        .send()
        .await
        .map_err(|error| stack_error("(resources)", format!("{error:?}")))?
        .stack_resources
        .unwrap_or_default()
        .into_iter()
        .filter_map(|resource| Some((resource.logical_resource_id?, resource.physical_resource_id?)))
        .collect();
    for required in
        ["ApiUrl", "ApiId", "OrderEventsTopicArn", "OrdersTableName", "InventoryTableName", "PaymentsTableName"]
    {
        if !outputs.contains_key(required) {
            return Err(stack_error(required, "output missing".into()));
        }
    }
    Ok(Stack { name: name.to_owned(), outputs, resources })
}
