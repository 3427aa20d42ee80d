use std::sync::Arc;

use lambda_runtime::{Error, service_fn};
use orderflow_kit::{Env, SystemClock};
use orderflow_outbox::{DynamoDbOutbox, Relay, SnsPublisher, StdoutMetrics};
use outbox_relay::config::Config;
use outbox_relay::handler::RelayHandler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderflow_observability::init_tracing();
    let config =
        Config::from_env(Env::process()).inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    // The SDK's default timeouts: an attempt cut by a timeout and retried can repeat a call that
    // succeeded (a second email), so these clients get none until every effect is idempotent.
    let aws = aws_config::load_from_env().await;
    let relay = Relay::new(
        Arc::new(DynamoDbOutbox::new(aws_sdk_dynamodb::Client::new(&aws), config.outbox_table)),
        Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(&aws), config.topic_arn)),
        Arc::new(SystemClock),
    );
    let handler =
        Arc::new(RelayHandler::new(relay, config.default_grace, Arc::new(StdoutMetrics), Arc::new(SystemClock)));
    lambda_runtime::run(service_fn(move |event| {
        let handler = Arc::clone(&handler);
        async move { handler.handle(event).await.map_err(Error::from) }
    }))
    .await
}
