#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orderflow_observability::init_tracing();
    let aws = aws_config::load_from_env().await;
    orderflow_consumer::run(notification::processor_from_env(&aws)?).await
}
