//! Echo function: returns the event, the request id and the trace header; prints one log line.
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, ctx) = event.into_parts();
    println!("rust handling {}", ctx.request_id);
    if payload.get("fail").is_some() {
        return Err("failing on request".into());
    }
    Ok(json!({
        "echo": payload,
        "requestId": ctx.request_id,
        "trace": std::env::var("_X_AMZN_TRACE_ID").unwrap_or_default(),
        "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
