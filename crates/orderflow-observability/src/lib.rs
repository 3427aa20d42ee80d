//! Logging and trace context shared by every orderflow function.
//!
//! On Lambda (detected by `AWS_LAMBDA_FUNCTION_NAME`) log lines are JSON objects, one per line,
//! with the fields of the current span (event id, order id, correlation id...) flattened in, so
//! CloudWatch Logs Insights can filter on them. Elsewhere (unit tests, a terminal) they are
//! human-readable. The level comes from `LOG_LEVEL` (or `RUST_LOG`), default `info`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, first thing in `main`. A second call is a no-op.
pub fn init_tracing() {
    let filter = std::env::var("LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|directive| EnvFilter::try_new(directive).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _already_set = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_ansi(false)
            // CloudWatch stamps every line on arrival; ours is kept for ordering within a batch.
            .try_init()
    } else {
        builder.compact().try_init()
    };
}

/// An error and every cause under it, `outer: cause: root cause`, for a log field
/// (`error = %ErrorChain(&error)`). Errors keep their causes as sources rather than folding them
/// into their message, so without this a log line would show only the outermost one. A cause
/// whose message its parent already shows (a transparent wrapper) is not repeated.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let message = error.to_string();
            if !shown.contains(&message) {
                write!(f, ": {message}")?;
                shown = message;
            }
            cause = error.source();
        }
        Ok(())
    }
}

/// The W3C `traceparent` for the X-Ray trace Lambda hands to this invocation
/// (`_X_AMZN_TRACE_ID` / the `Lambda-Runtime-Trace-Id` header), so a trace can be followed
/// across the asynchronous hop through SNS and SQS by tools that speak either format.
///
/// `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1` becomes
/// `00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01`.
pub fn traceparent_from_xray(header: &str) -> Option<String> {
    let mut root = None;
    let mut parent = None;
    let mut sampled = false;
    for part in header.split(';') {
        match part.trim().split_once('=') {
            Some(("Root", value)) => root = Some(value),
            Some(("Parent", value)) => parent = Some(value),
            Some(("Sampled", value)) => sampled = value == "1",
            _ => {}
        }
    }
    let mut root_parts = root?.split('-');
    let (Some("1"), Some(epoch), Some(unique), None) =
        (root_parts.next(), root_parts.next(), root_parts.next(), root_parts.next())
    else {
        return None;
    };
    let trace_id = format!("{epoch}{unique}");
    let parent = parent?;
    let is_hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_hex(&trace_id, 32) || !is_hex(parent, 16) {
        return None;
    }
    Some(format!(
        "00-{}-{}-{}",
        trace_id.to_ascii_lowercase(),
        parent.to_ascii_lowercase(),
        if sampled { "01" } else { "00" }
    ))
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("placing the order failed")]
    struct Outer(#[source] Middle);
    #[derive(Debug, thiserror::Error)]
    #[error(transparent)]
    struct Middle(#[from] Inner);
    #[derive(Debug, thiserror::Error)]
    #[error("DynamoDB PutItem failed: throttled")]
    struct Inner;

    #[test]
    fn an_error_chain_shows_every_cause_once() {
        let error = Outer(Middle(Inner));
        assert_eq!(
            super::ErrorChain(&error).to_string(),
            "placing the order failed: DynamoDB PutItem failed: throttled"
        );
    }

    use super::*;

    #[test]
    fn converts_an_xray_header() {
        assert_eq!(
            traceparent_from_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
                .as_deref(),
            Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01")
        );
        assert_eq!(
            traceparent_from_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0")
                .as_deref(),
            Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00")
        );
    }

    #[test]
    fn rejects_malformed_headers() {
        for header in ["", "Root=1-abc;Parent=53995c3f42cd8ad8", "Root=1-5759e988-bd862e3fe1be46a994272793", "junk"] {
            assert_eq!(traceparent_from_xray(header), None, "{header}");
        }
    }
}
