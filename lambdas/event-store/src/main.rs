#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orderflow_observability::init_tracing();
    // The endpoint comes from the standard AWS_ENDPOINT_URL when set (LocalStack).
    let aws = aws_config::load_from_env().await;
    let processor =
        event_store::processor_from_env(&aws).inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    event_store::run(processor).await
}
