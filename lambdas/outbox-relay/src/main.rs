//! The outbox relay Lambda: publishes outbox entries the order API could not publish itself
//! (crash or SNS outage between commit and publish). Runs every minute and on demand.

mod config;
mod relay;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use lambda_runtime::{Error, service_fn};
use order_api::adapters::dynamodb::DynamoOutbox;
use order_api::adapters::sns::SnsPublisher;
use order_api::ports::SystemClock;

use crate::config::Config;
use crate::relay::Relay;

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderflow_observability::init_tracing();
    let config = Config::from_env().inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    // The endpoint comes from the standard AWS_ENDPOINT_URL when set (LocalStack).
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let relay = Arc::new(Relay::new(
        Arc::new(DynamoOutbox::new(aws_sdk_dynamodb::Client::new(&aws), config.outbox_table)),
        Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(&aws), config.topic_arn)),
        Arc::new(SystemClock),
        config.default_grace,
    ));
    lambda_runtime::run(service_fn(move |event| {
        let relay = Arc::clone(&relay);
        async move { relay.handle(event).await }
    }))
    .await
}
