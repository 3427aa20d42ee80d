//! Every AWS (and API) call the commands make, behind one small type: the deployed stack and its
//! clients. Each method returns plain data from `model`; the logic and the rendering never see
//! the SDK.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudformation::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::config::ProvideCredentials;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::args::GlobalArgs;
use crate::error::CliError;
use crate::model::{RedriveTask, StoredEvent, Subscriber};
use crate::policy::{Attributes, FilterPolicy};

/// Where LocalStack listens, as the project's scripts find it.
pub fn local_endpoint() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    var("AWS_ENDPOINT_URL")
        .or_else(|| var("LOCALSTACK_ENDPOINT"))
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", var("LOCALSTACK_PORT").unwrap_or_else(|| "4566".to_owned())))
}

/// The API base URL: on AWS the `ApiUrl` output; on LocalStack the execute-api path of the
/// endpoint (the AWS-shaped URL needs DNS that a loopback-only machine lacks).
pub fn api_base_url(outputs: &BTreeMap<String, String>, local_endpoint: Option<&str>) -> Option<String> {
    let api_url = outputs.get("ApiUrl")?;
    match local_endpoint {
        None => Some(api_url.trim_end_matches('/').to_owned()),
        Some(endpoint) => {
            let stage = api_url.trim_end_matches('/').rsplit('/').next().unwrap_or("dev");
            let api_id = outputs.get("ApiId")?;
            Some(format!("{}/_aws/execute-api/{api_id}/{stage}", endpoint.trim_end_matches('/')))
        }
    }
}

/// An answer of the order API.
#[derive(Debug, Clone)]
pub struct ApiAnswer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

/// A message read from a queue without deleting it.
#[derive(Debug, Clone)]
pub struct Peeked {
    pub message_id: String,
    pub body: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub receive_count: Option<u32>,
    /// `orderflow_failure_reason`: why the consumer parked it (absent when SQS moved it).
    pub failure_reason: Option<String>,
}

/// The message attribute a consumer writes on a message it parks in its DLQ: why it gave up
/// (`orderflow_consumer::FAILURE_REASON_ATTRIBUTE`).
const FAILURE_REASON_ATTRIBUTE: &str = "orderflow_failure_reason";

/// The deployed stack and the clients to reach it.
pub struct Backend {
    pub stack: String,
    /// `Some(endpoint)` in local mode.
    pub local: Option<String>,
    pub outputs: BTreeMap<String, String>,
    status: String,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    lambda: aws_sdk_lambda::Client,
    http: reqwest::Client,
}

fn is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.is_empty())
}

impl Backend {
    /// Loads the AWS configuration, checks credentials and reads the stack's outputs.
    pub async fn connect(global: &GlobalArgs) -> Result<Backend, CliError> {
        let local = global.is_local(is_set("LOCALSTACK_ENDPOINT")).then(local_endpoint);
        let stack = global.stack_name(local.is_some());
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &global.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &local {
            loader = loader.endpoint_url(endpoint.clone());
            if global.region.is_none() && !is_set("AWS_REGION") && !is_set("AWS_DEFAULT_REGION") {
                loader = loader.region(Region::new("us-east-1"));
            }
            // LocalStack accepts any credentials; without any set, probing the chain (up to
            // the instance metadata endpoint) would only be slow.
            if !is_set("AWS_ACCESS_KEY_ID") && !is_set("AWS_PROFILE") {
                loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
                    "test",
                    "test",
                    None,
                    None,
                    "orderflow-local",
                ));
            }
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(CliError::NoRegion);
        }
        let Some(credentials) = config.credentials_provider() else {
            return Err(CliError::NoCredentials("no credential provider is configured".into()));
        };
        credentials.provide_credentials().await.map_err(|error| CliError::NoCredentials(error.into()))?;

        let cloudformation = aws_sdk_cloudformation::Client::new(&config);
        let described = match cloudformation.describe_stacks().stack_name(&stack).send().await {
            Ok(described) => described,
            Err(SdkError::ServiceError(error))
                if error.err().meta().message().is_some_and(|m| m.contains("does not exist")) =>
            {
                return Err(CliError::StackNotFound { stack, local: local.is_some() });
            }
            Err(error @ (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_))) if local.is_some() => {
                return Err(CliError::LocalStackDown { endpoint: local.unwrap_or_default(), source: error.into() });
            }
            Err(error) => return Err(CliError::aws(format!("CloudFormation DescribeStacks {stack}"), error)),
        };
        let Some(described) = described.stacks.unwrap_or_default().into_iter().next() else {
            return Err(CliError::StackNotFound { stack, local: local.is_some() });
        };
        let status = described.stack_status().map(|status| status.as_str().to_owned()).unwrap_or_default();
        let outputs = described
            .outputs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|output| Some((output.output_key?, output.output_value?)))
            .collect();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("orderflow-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| CliError::Http { url: String::new(), source: error })?;
        Ok(Backend {
            stack,
            local,
            outputs,
            status,
            sqs: aws_sdk_sqs::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            http,
        })
    }

    pub fn output(&self, key: &str) -> Result<&str, CliError> {
        self.outputs.get(key).map(String::as_str).ok_or_else(|| CliError::MissingOutput {
            stack: self.stack.clone(),
            output: key.to_owned(),
            status: self.status.clone(),
        })
    }

    // --- the order API ------------------------------------------------------------------------

    fn api_url(&self, path: &str) -> Result<String, CliError> {
        self.output("ApiUrl")?;
        if self.local.is_some() {
            self.output("ApiId")?;
        }
        let base = api_base_url(&self.outputs, self.local.as_deref()).unwrap_or_default();
        Ok(format!("{base}{path}"))
    }

    async fn api(&self, request: reqwest::RequestBuilder, url: String) -> Result<ApiAnswer, CliError> {
        let response = request.send().await.map_err(|source| CliError::Http { url: url.clone(), source })?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|source| CliError::Http { url, source })?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(ApiAnswer { status, body, text })
    }

    pub async fn post_order(&self, body: &Value, idempotency_key: Option<&str>) -> Result<ApiAnswer, CliError> {
        let url = self.api_url("/orders")?;
        let mut request = self.http.post(&url).header("content-type", "application/json").body(body.to_string());
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.api(request, url).await
    }

    pub async fn get_order(&self, order_id: &str) -> Result<ApiAnswer, CliError> {
        let url = self.api_url(&format!("/orders/{order_id}"))?;
        self.api(self.http.get(&url), url).await
    }

    // --- the event store ----------------------------------------------------------------------

    /// The events of an order (index byOrder), or of a type (index byType), in time order.
    pub async fn query_events(&self, index: &str, key: &str, value: &str) -> Result<Vec<StoredEvent>, CliError> {
        let table = self.output("EventStoreTableName")?.to_owned();
        let mut events = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .dynamodb
                .query()
                .table_name(&table)
                .index_name(index)
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", key)
                .expression_attribute_values(":v", AttributeValue::S(value.to_owned()))
                .scan_index_forward(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|error| CliError::aws(format!("DynamoDB Query {table} ({index})"), error))?;
            events.extend(page.items.unwrap_or_default().iter().filter_map(stored_event));
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(events)
    }

    /// Every stored event (a Scan): for a replay without --order or --type.
    pub async fn scan_events(&self) -> Result<Vec<StoredEvent>, CliError> {
        let table = self.output("EventStoreTableName")?.to_owned();
        let mut events = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(&table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|error| CliError::aws(format!("DynamoDB Scan {table}"), error))?;
            events.extend(page.items.unwrap_or_default().iter().filter_map(stored_event));
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(events)
    }

    /// When `consumer` completed the event: its idempotency record (`completedAtMs`, else
    /// `completedAt` in seconds); `None` if it has not (or the record expired).
    pub async fn completed_at(&self, consumer: &str, event_id: &str) -> Result<Option<DateTime<Utc>>, CliError> {
        let table = self.output("IdempotencyTableName")?.to_owned();
        let item = self
            .dynamodb
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(format!("{consumer}#{event_id}")))
            .send()
            .await
            .map_err(|error| CliError::aws(format!("DynamoDB GetItem {table}"), error))?
            .item;
        let Some(item) = item else { return Ok(None) };
        if item.get("status").and_then(|status| status.as_s().ok()).map(String::as_str) != Some("COMPLETED") {
            return Ok(None);
        }
        let number =
            |name: &str| item.get(name).and_then(|value| value.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
        let millis = number("completedAtMs").or_else(|| number("completedAt").map(|seconds| seconds * 1000));
        Ok(millis.and_then(DateTime::from_timestamp_millis))
    }

    // --- the topic's subscribers --------------------------------------------------------------

    /// Every SQS queue subscribed to the stack's topic, with its filter policy (DLQs aside).
    pub async fn subscribers(&self) -> Result<Vec<Subscriber>, CliError> {
        let topic = self.output("OrderEventsTopicArn")?.to_owned();
        let mut subscribers = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(&topic)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|error| CliError::aws("SNS ListSubscriptionsByTopic", error))?;
            for subscription in page.subscriptions.unwrap_or_default() {
                let (Some("sqs"), Some(endpoint), Some(arn)) = (
                    subscription.protocol.as_deref(),
                    subscription.endpoint.as_deref(),
                    subscription.subscription_arn.as_deref(),
                ) else {
                    continue;
                };
                if !arn.starts_with("arn:") {
                    continue; // PendingConfirmation
                }
                let attributes = match self.sns.get_subscription_attributes().subscription_arn(arn).send().await {
                    Ok(output) => output.attributes.unwrap_or_default(),
                    // Unsubscribed between the listing and this read (a stack being deleted or
                    // updated): it receives nothing any more, so it is no subscriber.
                    Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found_exception()) => continue,
                    Err(error) => return Err(CliError::aws(format!("SNS GetSubscriptionAttributes {arn}"), error)),
                };
                let policy = FilterPolicy::parse(attributes.get("FilterPolicy").map(String::as_str))
                    .map_err(|source| CliError::InvalidPolicy { consumer: endpoint.to_owned(), source })?;
                // A policy on the message body is not evaluated here: say so rather than guess.
                let policy = match attributes.get("FilterPolicyScope").map(String::as_str) {
                    Some("MessageBody") if !policy.is_accept_all() => {
                        FilterPolicy::unsupported("FilterPolicyScope MessageBody")
                    }
                    _ => policy,
                };
                subscribers.extend(Subscriber::from_queue_arn(&self.stack, endpoint, policy));
            }
            match page.next_token {
                Some(token) if !token.is_empty() => next = Some(token),
                _ => break,
            }
        }
        Ok(subscribers)
    }

    // --- queues -------------------------------------------------------------------------------

    /// The URL of a queue by name, `None` if there is no such queue.
    pub async fn queue_url(&self, name: &str, owner: Option<&str>) -> Result<Option<String>, CliError> {
        match self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .set_queue_owner_aws_account_id(owner.map(str::to_owned))
            .send()
            .await
        {
            Ok(found) => Ok(found.queue_url),
            Err(SdkError::ServiceError(error)) if error.err().is_queue_does_not_exist() => Ok(None),
            Err(error) => Err(CliError::aws(format!("SQS GetQueueUrl {name}"), error)),
        }
    }

    /// `(arn, visible + in flight)`.
    pub async fn queue_arn_and_depth(&self, url: &str) -> Result<(String, u64), CliError> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|error| CliError::aws(format!("SQS GetQueueAttributes {}", queue_name(url)), error))?
            .attributes
            .unwrap_or_default();
        let count = |name: QueueAttributeName| attributes.get(&name).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        let depth = count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        Ok((attributes.get(&QueueAttributeName::QueueArn).cloned().unwrap_or_default(), depth))
    }

    /// Up to `max` distinct messages, received with visibility timeout 0 and never deleted
    /// (each receive counts: harmless on a DLQ, which has no redrive policy of its own).
    pub async fn peek(&self, url: &str, max: usize, rounds: usize) -> Result<Vec<Peeked>, CliError> {
        let mut seen: BTreeMap<String, Peeked> = BTreeMap::new();
        // Each receive samples some of the queue's servers: keep receiving until two rounds in a
        // row bring nothing new (or `rounds`), since every receive counts on the messages.
        let mut idle_rounds = 0;
        for _ in 0..rounds {
            let received = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names(FAILURE_REASON_ATTRIBUTE)
                .send()
                .await
                .map_err(|error| CliError::aws(format!("SQS ReceiveMessage {}", queue_name(url)), error))?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let before = seen.len();
            for message in messages {
                let Some(message_id) = message.message_id.clone() else { continue };
                let attribute = |name: MessageSystemAttributeName| {
                    message.attributes.as_ref().and_then(|attributes| attributes.get(&name)).cloned()
                };
                let sent_at = attribute(MessageSystemAttributeName::SentTimestamp)
                    .and_then(|ms| ms.parse::<i64>().ok())
                    .and_then(DateTime::from_timestamp_millis);
                let receive_count =
                    attribute(MessageSystemAttributeName::ApproximateReceiveCount).and_then(|n| n.parse().ok());
                let failure_reason = message
                    .message_attributes
                    .as_ref()
                    .and_then(|attributes| attributes.get(FAILURE_REASON_ATTRIBUTE))
                    .and_then(|value| value.string_value.clone());
                seen.insert(
                    message_id.clone(),
                    Peeked {
                        message_id,
                        body: message.body.unwrap_or_default(),
                        sent_at,
                        receive_count,
                        failure_reason,
                    },
                );
            }
            idle_rounds = if seen.len() == before { idle_rounds + 1 } else { 0 };
            if seen.len() >= max || idle_rounds >= 2 {
                break;
            }
        }
        let mut peeked: Vec<Peeked> = seen.into_values().collect();
        peeked.sort_by_key(|message| message.sent_at);
        peeked.truncate(max);
        Ok(peeked)
    }

    /// Sends events to one queue in batches (at most 10, at most 256 KiB), body and attributes as stored. Calls
    /// `progress` after each batch with the number sent in it; returns (sent, failed).
    pub async fn send_events(
        &self,
        url: &str,
        events: &[StoredEvent],
        mut progress: impl FnMut(usize),
    ) -> Result<(usize, usize), CliError> {
        let (mut sent, mut failed) = (0, 0);
        for chunk in crate::model::send_batches(events) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (index, event) in chunk.iter().enumerate() {
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{index}"))
                        .message_body(&event.body)
                        .set_message_attributes(Some(message_attributes(&event.attributes)?))
                        .build()
                        .map_err(|error| CliError::aws("SQS SendMessageBatch (request)", error))?,
                );
            }
            let result = self
                .sqs
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| CliError::aws(format!("SQS SendMessageBatch {}", queue_name(url)), error))?;
            sent += result.successful.len();
            failed += result.failed.len();
            progress(chunk.len());
        }
        Ok((sent, failed))
    }

    /// The function that consumes a DLQ's source queue (its SQS event source mapping), for a
    /// DLQ the stack's outputs do not name; `None` if there is none to be found.
    pub async fn function_for_dlq(&self, dlq_url: &str) -> Result<Option<String>, CliError> {
        let Some(source_arn) = self.dead_letter_source_arn(dlq_url).await? else { return Ok(None) };
        let mappings = self
            .lambda
            .list_event_source_mappings()
            .event_source_arn(&source_arn)
            .send()
            .await
            .map_err(|error| CliError::aws(format!("Lambda ListEventSourceMappings {source_arn}"), error))?
            .event_source_mappings
            .unwrap_or_default();
        Ok(mappings.into_iter().find_map(|mapping| mapping.function_arn).map(|arn| function_name_of(&arn)))
    }

    // --- redrive ------------------------------------------------------------------------------

    /// The ARN of the one queue whose redrive policy names this DLQ; `None` if none or several.
    pub async fn dead_letter_source_arn(&self, dlq_url: &str) -> Result<Option<String>, CliError> {
        let sources = self
            .sqs
            .list_dead_letter_source_queues()
            .queue_url(dlq_url)
            .send()
            .await
            .map_err(|error| CliError::aws(format!("SQS ListDeadLetterSourceQueues {}", queue_name(dlq_url)), error))?
            .queue_urls;
        match sources.as_slice() {
            [source] => Ok(Some(self.queue_arn_and_depth(source).await?.0)),
            _ => Ok(None),
        }
    }

    /// Moves the DLQ's messages back to `destination_arn`, or, without one, to the queue each
    /// came from. A message the consumer parked itself (SendMessage) has no "came from" that SQS
    /// knows, so the caller names the source queue whenever it can.
    pub async fn start_redrive(
        &self,
        source_arn: &str,
        destination_arn: Option<&str>,
        rate: Option<i32>,
    ) -> Result<String, CliError> {
        let started = self
            .sqs
            .start_message_move_task()
            .source_arn(source_arn)
            .set_destination_arn(destination_arn.map(str::to_owned))
            .set_max_number_of_messages_per_second(rate)
            .send()
            .await
            .map_err(|error| CliError::aws(format!("SQS StartMessageMoveTask {source_arn}"), error))?;
        Ok(started.task_handle.unwrap_or_default())
    }

    pub async fn redrive_tasks(&self, source_arn: &str) -> Result<Vec<RedriveTask>, CliError> {
        let listed = self
            .sqs
            .list_message_move_tasks()
            .source_arn(source_arn)
            .max_results(10)
            .send()
            .await
            .map_err(|error| CliError::aws(format!("SQS ListMessageMoveTasks {source_arn}"), error))?;
        Ok(listed
            .results
            .unwrap_or_default()
            .into_iter()
            .map(|task| RedriveTask {
                task_handle: task.task_handle().map(str::to_owned),
                status: task.status().unwrap_or("UNKNOWN").to_owned(),
                moved: task.approximate_number_of_messages_moved(),
                to_move: task.approximate_number_of_messages_to_move(),
                rate: task.max_number_of_messages_per_second(),
                started_at: DateTime::from_timestamp_millis(task.started_timestamp())
                    .filter(|_| task.started_timestamp() > 0),
                failure_reason: task.failure_reason().map(str::to_owned),
            })
            .collect())
    }

    pub async fn cancel_redrive(&self, handle: &str) -> Result<i64, CliError> {
        let cancelled = self
            .sqs
            .cancel_message_move_task()
            .task_handle(handle)
            .send()
            .await
            .map_err(|error| CliError::aws("SQS CancelMessageMoveTask", error))?;
        Ok(cancelled.approximate_number_of_messages_moved)
    }

    // --- logs ---------------------------------------------------------------------------------

    /// The function's log lines since `since` that mention one of `needles` (at most a few pages).
    pub async fn log_lines(
        &self,
        function: &str,
        since: DateTime<Utc>,
        needles: &[&str],
    ) -> Result<Vec<String>, CliError> {
        let group = format!("/aws/lambda/{function}");
        // On AWS the service filters; LocalStack's filter patterns are partial, so there the
        // window is read whole and filtered here (reason_from_logs filters again anyway).
        let pattern = match (self.local.is_some(), needles.iter().find(|needle| !needle.is_empty())) {
            (false, Some(needle)) => Some(format!("\"{needle}\"")),
            _ => None,
        };
        let mut lines: Vec<(Option<i64>, String)> = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..20 {
            let page = match self
                .logs
                .filter_log_events()
                .log_group_name(&group)
                .start_time(since.timestamp_millis())
                .set_filter_pattern(pattern.clone())
                .set_next_token(next.take())
                .send()
                .await
            {
                Ok(page) => page,
                Err(SdkError::ServiceError(error)) if error.err().is_resource_not_found_exception() => break,
                Err(error) => return Err(CliError::aws(format!("CloudWatch Logs FilterLogEvents {group}"), error)),
            };
            lines.extend(
                page.events.unwrap_or_default().into_iter().filter_map(|event| Some((event.timestamp, event.message?))),
            );
            match page.next_token {
                Some(token) if !token.is_empty() => next = Some(token),
                _ => break,
            }
        }
        // Streams interleave; "the last failure" needs time order (stable: a stream's own order
        // holds within a millisecond).
        lines.sort_by_key(|(timestamp, _)| *timestamp);
        Ok(lines.into_iter().map(|(_, line)| line).collect())
    }
}

/// `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]` -> `<name>`.
pub fn function_name_of(arn: &str) -> String {
    let mut parts = arn.split(':').skip_while(|part| *part != "function");
    parts.nth(1).unwrap_or(arn).to_owned()
}

/// The last segment of a queue URL.
pub fn queue_name(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

fn message_attributes(attributes: &Attributes) -> Result<HashMap<String, MessageAttributeValue>, CliError> {
    attributes
        .iter()
        .filter_map(|(name, attribute)| {
            attribute.string_value.as_ref().map(|value| (name, &attribute.data_type, value))
        })
        .map(|(name, data_type, value)| {
            let value = MessageAttributeValue::builder()
                .data_type(data_type)
                .string_value(value)
                .build()
                .map_err(|error| CliError::aws("SQS message attribute", error))?;
            Ok((name.clone(), value))
        })
        .collect()
}

/// An event store item; `None` for an item without the fields every stored event has.
fn stored_event(item: &HashMap<String, AttributeValue>) -> Option<StoredEvent> {
    let text = |name: &str| item.get(name).and_then(|value| value.as_s().ok()).cloned();
    let attributes: Attributes =
        text("attributes").and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default();
    let event_id = text("eventId")?;
    let time = text("time").unwrap_or_default();
    Some(StoredEvent {
        time_id: text("timeId").unwrap_or_else(|| format!("{time}#{event_id}")),
        cloud_event_type: text("type").unwrap_or_default(),
        event_type: text("eventType").unwrap_or_default(),
        event_version: text("eventVersion").unwrap_or_default(),
        source: text("source").unwrap_or_default(),
        order_id: text("orderId"),
        correlation_id: text("correlationId"),
        body: text("body")?,
        attributes,
        event_id,
        time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_url_follows_the_mode() {
        let outputs: BTreeMap<String, String> = [
            ("ApiUrl".to_owned(), "https://abc.execute-api.eu-west-1.amazonaws.com/dev/".to_owned()),
            ("ApiId".to_owned(), "abc".to_owned()),
        ]
        .into_iter()
        .collect();
        assert_eq!(api_base_url(&outputs, None).unwrap(), "https://abc.execute-api.eu-west-1.amazonaws.com/dev");
        assert_eq!(
            api_base_url(&outputs, Some("http://127.0.0.1:4577/")).unwrap(),
            "http://127.0.0.1:4577/_aws/execute-api/abc/dev"
        );
    }

    #[test]
    fn a_store_item_becomes_an_event() {
        let s = |value: &str| AttributeValue::S(value.to_owned());
        let item: HashMap<String, AttributeValue> = [
            ("eventId", s("e1")),
            ("type", s("orders.OrderPlaced.v1")),
            ("eventType", s("OrderPlaced")),
            ("eventVersion", s("1")),
            ("source", s("orderflow/order-api")),
            ("time", s("2026-11-23T18:30:00Z")),
            ("orderId", s("o1")),
            ("timeId", s("2026-11-23T18:30:00Z#e1")),
            ("body", s("{}")),
            ("attributes", s(r#"{"event_type":{"DataType":"String","StringValue":"OrderPlaced"}}"#)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let event = stored_event(&item).unwrap();
        assert_eq!(event.order_id.as_deref(), Some("o1"));
        assert_eq!(event.correlation_id, None);
        assert_eq!(event.attributes["event_type"].string_value.as_deref(), Some("OrderPlaced"));
        let sent = message_attributes(&event.attributes).unwrap();
        assert_eq!(sent["event_type"].string_value(), Some("OrderPlaced"));
        assert_eq!(sent["event_type"].data_type(), "String");
    }

    #[test]
    fn function_names_come_from_arns() {
        assert_eq!(function_name_of("arn:aws:lambda:us-east-1:000000000000:function:loyalty-fn"), "loyalty-fn");
        assert_eq!(function_name_of("arn:aws:lambda:us-east-1:1:function:f:live"), "f");
        assert_eq!(function_name_of("plain"), "plain");
    }

    #[test]
    fn queue_names_come_from_urls() {
        assert_eq!(queue_name("http://sqs.us-east-1.localhost:4566/000000000000/s-billing-dlq"), "s-billing-dlq");
    }
}
