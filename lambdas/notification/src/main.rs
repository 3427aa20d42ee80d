#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orderflow_observability::init_tracing();
    // The SDK's default timeouts: an attempt cut by a timeout and retried can repeat a call that
    // succeeded (a second email), so these clients get none until every effect is idempotent.
    let aws = aws_config::load_from_env().await;
    let processor =
        notification::processor_from_env(&aws).inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    orderflow_consumer::run(processor, &aws).await
}
