#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orderflow_observability::init_tracing();
    // Timeouts and retries sized to the function's own timeout (orderflow_kit::aws).
    let aws = orderflow_kit::aws::load_for_function().await;
    let processor =
        billing::processor_from_env(&aws).inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    orderflow_consumer::run(processor, &aws).await
}
