//! The order API Lambda: configuration, AWS clients and the handler loop. Logic lives in the lib.

use std::sync::Arc;

use lambda_http::{Error, service_fn};
use order_api::OrderApi;
use order_api::adapters::dynamodb::DynamoOrderStore;
use order_api::adapters::event_store::DynamoDbEventHistory;
use order_api::config::Config;
use order_api::ports::UuidV7Ids;
use order_api::service::Dependencies;
use orderflow_kit::{Env, SystemClock, aws};
use orderflow_outbox::{DynamoDbOutbox, SnsPublisher, StdoutMetrics};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderflow_observability::init_tracing();
    let config =
        Config::from_env(Env::process()).inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    // The endpoint comes from the standard AWS_ENDPOINT_URL when set (LocalStack).
    let aws = aws_config::load_from_env().await;
    // The publish after the commit may fail: the outbox entry is committed and the relay
    // publishes it. So it gives up well before the function times out instead of holding the
    // answer into a 5xx.
    let timeouts = aws::ClientTimeouts::after_commit(aws::function_timeout(
        std::env::var(aws::FUNCTION_TIMEOUT_VAR).ok().as_deref(),
    ));
    let sns = aws_sdk_sns::Client::new(&aws::with_timeouts(&aws, timeouts));
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let deps = Dependencies {
        store: Arc::new(DynamoOrderStore::new(dynamodb.clone(), config.tables.clone())),
        outbox: Arc::new(DynamoDbOutbox::new(dynamodb.clone(), config.tables.outbox.clone())),
        events: Arc::new(DynamoDbEventHistory::new(dynamodb, config.event_store_table.clone())),
        publisher: Arc::new(SnsPublisher::new(sns, config.topic_arn.clone())),
        metrics: Arc::new(StdoutMetrics),
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidV7Ids),
    };
    let api = Arc::new(OrderApi::new(deps, config.supported_currencies));
    lambda_http::run(service_fn(move |request| order_api::http::handle_shared(Arc::clone(&api), request))).await
}
