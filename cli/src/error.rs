//! Every way a command fails, each saying what to do about it.

use std::error::Error as StdError;

use crate::policy::UnsupportedPolicy;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments: clap's message (with the usage line).
    #[error("{0}")]
    Usage(#[source] clap::Error),

    #[error("{0}")]
    BadArgument(String),

    #[error(
        "stack {stack} not found{where_}: deploy it with {deploy}, or pass --stack NAME (or set ORDERFLOW_STACK)",
        where_ = if *local { " in LocalStack" } else { "" },
        deploy = if *local { "`make local-deploy`" } else { "`make deploy`" }
    )]
    StackNotFound { stack: String, local: bool },

    #[error(
        "stack {stack} has no output {output} (status {status}): the stack predates it or did not finish deploying; redeploy it (`make deploy` / `make local-deploy`)"
    )]
    MissingOutput { stack: String, output: String, status: String },

    #[error(
        "no AWS credentials found: configure them (`aws configure`, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; after `aws sso login`: eval \"$(aws configure export-credentials --format env)\"), or pass --local for LocalStack"
    )]
    NoCredentials(#[source] BoxError),

    #[error("no AWS region configured: pass --region, or set AWS_REGION (or a region in your AWS profile)")]
    NoRegion,

    #[error(
        "LocalStack is not answering at {endpoint}: start it (`make localstack-up`), or point AWS_ENDPOINT_URL / LOCALSTACK_ENDPOINT / LOCALSTACK_PORT at the running one"
    )]
    LocalStackDown {
        endpoint: String,
        #[source]
        source: BoxError,
    },

    /// An AWS call failed; `action` names it ("SQS ReceiveMessage on billing-dlq").
    #[error("{action} failed")]
    Aws {
        action: String,
        #[source]
        source: BoxError,
    },

    #[error("could not reach the order API at {url}: check the network, or that the stack's API is deployed")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    /// The API refused the request (4xx/5xx), with its problem details.
    #[error("the API answered {status}: {detail}")]
    Api { status: u16, detail: String },

    #[error("order {0} not found: check the id (`orderflow order get ID` takes the orderId POST /orders returned)")]
    OrderNotFound(String),

    #[error("no DLQ named {name} in stack {stack} (known: {known}); pass a consumer name or the DLQ's full queue name", known = known.join(", "))]
    UnknownDlq { name: String, stack: String, known: Vec<String> },

    #[error("no consumer {name} is subscribed to the stack's topic (known: {known}); pass a consumer name or its full queue name", known = known.join(", "))]
    UnknownConsumer { name: String, known: Vec<String> },

    #[error("the subscription filter policy of {consumer} cannot be evaluated; replay with a narrower --type instead")]
    Policy {
        consumer: String,
        #[source]
        source: UnsupportedPolicy,
    },

    #[error("the subscription filter policy of {consumer} is not valid JSON")]
    InvalidPolicy {
        consumer: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("DLQ {0} has no running redrive to cancel (see `orderflow dlq redrive-status {0}`)")]
    NoRunningRedrive(String),

    #[error(
        "{failed} of {total} events could not be sent to {queue}; {sent} were sent. Run the same replay again: consumers skip what they already handled"
    )]
    ReplayIncomplete { queue: String, sent: usize, failed: usize, total: usize },

    #[error("could not write the output")]
    Output(#[source] std::io::Error),
}

impl CliError {
    /// 2 for bad usage (as clap), 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) | CliError::BadArgument(_) => 2,
            _ => 1,
        }
    }

    pub(crate) fn aws(action: impl Into<String>, source: impl Into<BoxError>) -> Self {
        CliError::Aws { action: action.into(), source: source.into() }
    }
}

/// The error and its causes, `outer: cause: root cause`, skipping a cause its parent already shows.
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut last = text.clone();
    let mut cause = error.source();
    while let Some(error) = cause {
        let message = error.to_string();
        if !last.contains(&message) && !message.is_empty() {
            text.push_str(": ");
            text.push_str(&message);
            last = message;
        }
        cause = error.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_do() {
        let error = CliError::StackNotFound { stack: "orderflow-local".into(), local: true };
        assert_eq!(
            error.to_string(),
            "stack orderflow-local not found in LocalStack: deploy it with `make local-deploy`, or pass --stack NAME (or set ORDERFLOW_STACK)"
        );
        let error = CliError::StackNotFound { stack: "orderflow".into(), local: false };
        assert!(error.to_string().contains("`make deploy`"));
        let error = CliError::MissingOutput {
            stack: "s".into(),
            output: "EventStoreTableName".into(),
            status: "UPDATE_COMPLETE".into(),
        };
        assert!(error.to_string().contains("predates it") && error.to_string().contains("redeploy"));
        assert_eq!(error.exit_code(), 1);
        assert_eq!(CliError::BadArgument("x".into()).exit_code(), 2);
    }

    #[test]
    fn the_chain_shows_every_cause_once() {
        let error = CliError::aws("SQS ReceiveMessage on q", std::io::Error::other("connection reset"));
        assert_eq!(chain(&error), "SQS ReceiveMessage on q failed: connection reset");
    }
}
