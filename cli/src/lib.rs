//! The `orderflow` command as a library: [`run`] takes the arguments (without the program name)
//! and a writer for stdout, so the unit tests and the end-to-end tests drive the real command in
//! process. `main.rs` only adds the terminal (colour, progress bar) and the exit code.
//!
//! Layout: `args` (clap), `aws` (every AWS and API call), `model` (data and the logic between:
//! consumers, timelines, replay selection), `policy` (SNS filter policies), `render` (data ->
//! tables or JSON, pure).

pub mod args;
pub mod aws;
pub mod error;
pub mod model;
pub mod policy;
pub mod render;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;

use chrono::{Duration, Utc};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::args::{Cli, Command, DlqCommand, GlobalArgs, OrderCommand, PlaceArgs, ReplayArgs};
use crate::aws::{Backend, queue_name};
use crate::model::{
    DlqContents, DlqMessage, DlqSummary, RedriveCancelled, RedriveStarted, RedriveStatus, ReplayFilter, ReplayReport,
    candidate_handlers, decode_body, dlq_name, find_subscriber, function_output_for_dlq, is_dlq_named,
    reason_from_logs, select_for_replay,
};
use crate::render::Style;

pub use crate::error::{CliError, chain};

/// What the output goes to: colour and a progress bar only for a person at a terminal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Terminal {
    pub color: bool,
    pub progress: bool,
}

impl Terminal {
    /// No colour, no progress bar: what scripts and tests get.
    pub fn plain() -> Self {
        Terminal::default()
    }

    /// Colour when stdout is a terminal and NO_COLOR is unset; the progress bar when stderr is.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Terminal { color: std::io::stdout().is_terminal() && !no_color, progress: std::io::stderr().is_terminal() }
    }
}

/// Runs one command: `args` as `std::env::args()` gives them, the program name first or left out
/// (`["orderflow", "--local", "dlq", "show", "billing"]` or `["--local", "dlq", "show", "billing"]`),
/// output to `out` (one JSON document with `--json`), plain (no colour, no progress bar).
/// `--help` and `--version` write to `out` and succeed.
pub async fn run<I, T>(args: I, out: &mut (dyn Write + Send)) -> Result<(), CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_with(args, out, Terminal::plain()).await
}

/// [`run`], returning what it printed.
pub async fn run_to_string<I, T>(args: I) -> Result<String, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut out: Vec<u8> = Vec::new();
    run(args, &mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// [`run`] for a given terminal.
pub async fn run_with<I, T>(args: I, out: &mut (dyn Write + Send), terminal: Terminal) -> Result<(), CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut args = args.into_iter().map(Into::into).peekable();
    // The program name may lead, as in `std::env::args()`; no command is named `orderflow`.
    if args.peek().is_some_and(is_program_name) {
        args.next();
    }
    let argv = std::iter::once(OsString::from("orderflow")).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(error)
            if matches!(error.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) =>
        {
            return write_out(out, &error.render().to_string());
        }
        // `orderflow` alone, a typo, a bad value: clap's message with the usage line, exit 2.
        Err(error) => return Err(CliError::Usage(error)),
    };
    let style = Style { color: terminal.color && !cli.global.json };
    let text = execute(&cli, style, terminal).await?;
    write_out(out, &text)
}

fn is_program_name(arg: &OsString) -> bool {
    std::path::Path::new(arg).file_stem().is_some_and(|stem| stem == "orderflow")
}

fn write_out(out: &mut (dyn Write + Send), text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::Output)
}

async fn execute(cli: &Cli, style: Style, terminal: Terminal) -> Result<String, CliError> {
    let global = &cli.global;
    // Arguments are checked before any AWS call, so a typo costs no round trip.
    match &cli.command {
        Command::Order(OrderCommand::Get { id } | OrderCommand::History { id }) => check_order_id(id)?,
        Command::Order(OrderCommand::Place(_)) => {}
        Command::Replay(replay) => {
            if let Some(order) = &replay.order {
                check_order_id(order)?;
            }
            if let (Some(since), Some(until)) = (replay.since, replay.until)
                && since >= until
            {
                return Err(CliError::BadArgument(format!("--since {since} is not before --until {until}")));
            }
        }
        Command::Dlq(_) => {}
    }
    let backend = Backend::connect(global).await?;
    match &cli.command {
        Command::Order(OrderCommand::Place(place)) => order_place(&backend, global, place, style).await,
        Command::Order(OrderCommand::Get { id }) => order_get(&backend, global, id, style).await,
        Command::Order(OrderCommand::History { id }) => order_history(&backend, global, id, style).await,
        Command::Dlq(dlq) => match &dlq.command {
            None | Some(DlqCommand::List) => dlq_list(&backend, global, style).await,
            Some(DlqCommand::Show { name, max }) => dlq_show(&backend, global, name, *max, style).await,
            Some(DlqCommand::Redrive { name, rate }) => {
                let dlq = resolve_dlq(&backend, name).await?;
                let destination = backend.dead_letter_source_arn(&dlq.url).await?;
                let task_handle = backend.start_redrive(&dlq.arn, destination.as_deref(), *rate).await?;
                let started = RedriveStarted { name: dlq.name, source_arn: dlq.arn, task_handle };
                Ok(if global.json { render::json(&started) } else { render::redrive_started(&started, style) })
            }
            Some(DlqCommand::RedriveStatus { name }) => {
                let dlq = resolve_dlq(&backend, name).await?;
                let status = RedriveStatus { tasks: backend.redrive_tasks(&dlq.arn).await?, name: dlq.name };
                Ok(if global.json { render::json(&status) } else { render::redrive_status(&status, style) })
            }
            Some(DlqCommand::RedriveCancel { name, handle }) => {
                let dlq = resolve_dlq(&backend, name).await?;
                let handle = match handle {
                    Some(handle) => handle.clone(),
                    None => backend
                        .redrive_tasks(&dlq.arn)
                        .await?
                        .into_iter()
                        .find(|task| task.status == "RUNNING")
                        .and_then(|task| task.task_handle)
                        .ok_or_else(|| CliError::NoRunningRedrive(dlq.name.clone()))?,
                };
                let moved = backend.cancel_redrive(&handle).await?;
                let cancelled = RedriveCancelled { name: dlq.name, task_handle: handle, moved };
                Ok(if global.json { render::json(&cancelled) } else { render::redrive_cancelled(&cancelled, style) })
            }
        },
        Command::Replay(replay) => run_replay(&backend, global, replay, style, terminal).await,
    }
}

fn check_order_id(id: &str) -> Result<(), CliError> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| CliError::BadArgument(format!("`{id}` is not an order id (the UUID POST /orders returned)")))
}

// --- order --------------------------------------------------------------------------------------

/// The customer id for an email when none is given: its characters the API allows, the rest
/// as `_`, so one address is always one customer.
pub fn customer_id_for(email: &str) -> String {
    let id: String = email
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(64)
        .collect();
    if id.is_empty() { "cus_anonymous".to_owned() } else { id }
}

/// The POST /orders body (the API validates it; this only shapes it).
pub fn place_body(place: &PlaceArgs) -> Value {
    let mut customer = json!({
        "id": place.customer_id.clone().unwrap_or_else(|| customer_id_for(&place.email)),
        "email": place.email,
    });
    if let Some(name) = &place.name {
        customer["name"] = json!(name);
    }
    let items: Vec<Value> = place
        .items
        .iter()
        .map(|item| json!({ "sku": item.sku, "quantity": item.quantity, "unitPrice": item.unit_price }))
        .collect();
    json!({ "customer": customer, "currency": place.currency, "items": items })
}

/// A problem+json answer as one line: its detail and every field error.
fn problem(answer: &aws::ApiAnswer) -> CliError {
    let body = &answer.body;
    let mut detail = body
        .get("detail")
        .or_else(|| body.get("title"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| answer.text.chars().take(300).collect());
    let errors: Vec<String> = body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|error| {
            format!(
                "{}: {}",
                error.get("field").and_then(Value::as_str).unwrap_or("?"),
                error.get("message").and_then(Value::as_str).unwrap_or("invalid")
            )
        })
        .collect();
    if !errors.is_empty() {
        detail = format!("{detail} ({})", errors.join("; "));
    }
    CliError::Api { status: answer.status, detail }
}

async fn order_place(
    backend: &Backend,
    global: &GlobalArgs,
    place: &PlaceArgs,
    style: Style,
) -> Result<String, CliError> {
    let answer = backend.post_order(&place_body(place), place.idempotency_key.as_deref()).await?;
    if !(200..300).contains(&answer.status) {
        return Err(problem(&answer));
    }
    Ok(if global.json { render::json(&answer.body) } else { render::order(&answer.body, style) })
}

async fn order_get(backend: &Backend, global: &GlobalArgs, id: &str, style: Style) -> Result<String, CliError> {
    let answer = backend.get_order(id).await?;
    match answer.status {
        200 => Ok(if global.json { render::json(&answer.body) } else { render::order(&answer.body, style) }),
        404 => Err(CliError::OrderNotFound(id.to_owned())),
        _ => Err(problem(&answer)),
    }
}

async fn order_history(backend: &Backend, global: &GlobalArgs, id: &str, style: Style) -> Result<String, CliError> {
    let events = backend.query_events("byOrder", "orderId", id).await?;
    // The system's consumers are the queues named `<stack>-<consumer>` (a side stack's included,
    // which follows the rule); anything else on the topic (a test's spy, a tool) has no
    // idempotency record to read and is no hop of the order.
    let prefix = format!("{}-", backend.stack);
    let subscribers: Vec<_> =
        backend.subscribers().await?.into_iter().filter(|s| s.queue_name.starts_with(&prefix)).collect();
    let mut handlers = Vec::with_capacity(events.len());
    let mut completed = BTreeMap::new();
    for event in &events {
        let candidates = candidate_handlers(event, &subscribers);
        let mut consumers = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            if let Some(at) = backend.completed_at(&candidate.consumer, &event.event_id).await? {
                completed.insert((candidate.consumer.clone(), event.event_id.clone()), at);
            }
            consumers.push((candidate.consumer.clone(), candidate.delayed));
        }
        handlers.push((event.event_id.clone(), consumers));
    }
    let history = model::build_history(id, events, &handlers, &completed);
    Ok(if global.json { render::json(&history) } else { render::history(&history, style) })
}

// --- dlq ----------------------------------------------------------------------------------------

/// A DLQ the commands act on.
struct DlqRef {
    name: String,
    queue_name: String,
    url: String,
    arn: String,
    depth: u64,
    /// The function whose failures put messages here (for its log group).
    function: Option<String>,
}

/// The stack's DLQs: (output key, URL), by output key.
fn stack_dlqs(backend: &Backend) -> Vec<(String, String)> {
    backend
        .outputs
        .iter()
        .filter(|(key, _)| key.ends_with("DlqUrl"))
        .map(|(key, url)| (key.clone(), url.clone()))
        .collect()
}

async fn resolve_dlq(backend: &Backend, name: &str) -> Result<DlqRef, CliError> {
    let stack = &backend.stack;
    let dlqs = stack_dlqs(backend);
    let found = dlqs.iter().find(|(_, url)| is_dlq_named(stack, queue_name(url), name));
    let (url, function) = match found {
        Some((key, url)) => {
            let function =
                function_output_for_dlq(key, &backend.outputs).and_then(|output| backend.outputs.get(&output).cloned());
            (url.clone(), function)
        }
        None => {
            // A DLQ outside the stack's outputs: `<stack>-<name>-dlq`, or the queue name itself.
            let mut url = backend.queue_url(&format!("{stack}-{name}-dlq"), None).await?;
            if url.is_none() && name.ends_with("-dlq") {
                url = backend.queue_url(name, None).await?;
            }
            let Some(url) = url else {
                return Err(CliError::UnknownDlq {
                    name: name.to_owned(),
                    stack: stack.clone(),
                    known: dlqs.iter().map(|(_, url)| dlq_name(stack, queue_name(url))).collect(),
                });
            };
            (url, None)
        }
    };
    let (arn, depth) = backend.queue_arn_and_depth(&url).await?;
    let queue = queue_name(&url).to_owned();
    Ok(DlqRef { name: dlq_name(stack, &queue), queue_name: queue, url, arn, depth, function })
}

async fn dlq_list(backend: &Backend, global: &GlobalArgs, style: Style) -> Result<String, CliError> {
    let now = Utc::now();
    let mut summaries = Vec::new();
    for (_, url) in stack_dlqs(backend) {
        let (_, depth) = backend.queue_arn_and_depth(&url).await?;
        let oldest_age_seconds = if depth > 0 {
            let peeked = backend.peek(&url, 30, 3).await?;
            peeked.iter().filter_map(|message| message.sent_at).min().map(|sent| (now - sent).num_seconds().max(0))
        } else {
            None
        };
        let queue = queue_name(&url).to_owned();
        summaries.push(DlqSummary {
            name: dlq_name(&backend.stack, &queue),
            queue_name: queue,
            queue_url: url,
            depth,
            oldest_age_seconds,
        });
    }
    Ok(if global.json { render::json(&summaries) } else { render::dlqs(&summaries, style) })
}

async fn dlq_show(
    backend: &Backend,
    global: &GlobalArgs,
    name: &str,
    max: usize,
    style: Style,
) -> Result<String, CliError> {
    let mut dlq = resolve_dlq(backend, name).await?;
    if dlq.function.is_none() {
        // Without the function the messages still show, only without their reason.
        dlq.function = backend.function_for_dlq(&dlq.url).await.ok().flatten();
    }
    let peeked = backend.peek(&dlq.url, max.max(1), max.div_ceil(10).max(1) + 2).await?;
    // The failures happened after the message was first sent (SQS keeps SentTimestamp when it
    // dead-letters a message); a minute earlier allows for clock skew.
    let since_of = |sent_at: Option<chrono::DateTime<Utc>>| {
        sent_at.unwrap_or_else(|| Utc::now() - Duration::days(1)) - Duration::minutes(1)
    };
    // LocalStack filters nothing server-side, so there one read of the window serves every message.
    let shared_lines = match (&dlq.function, backend.local.is_some()) {
        (Some(function), true) => {
            let since = peeked.iter().map(|message| since_of(message.sent_at)).min();
            match since {
                Some(since) => Some(backend.log_lines(function, since, &[]).await?),
                None => None,
            }
        }
        _ => None,
    };
    let mut messages = Vec::with_capacity(peeked.len());
    for message in peeked {
        let event = decode_body(&message.body);
        let needles = [event.event_id().unwrap_or_default(), message.message_id.as_str()];
        let reason = match (&shared_lines, &dlq.function) {
            // Parked by the consumer: the reason travels with the message.
            _ if message.failure_reason.is_some() => message.failure_reason.clone(),
            (Some(lines), _) => reason_from_logs(lines, &needles),
            (None, Some(function)) => {
                let lines = backend.log_lines(function, since_of(message.sent_at), &needles).await?;
                reason_from_logs(&lines, &needles)
            }
            (None, None) => None,
        };
        messages.push(DlqMessage {
            message_id: message.message_id,
            sent_at: message.sent_at,
            receive_count: message.receive_count,
            event,
            reason,
        });
    }
    let contents = DlqContents { name: dlq.name, queue_name: dlq.queue_name, depth: dlq.depth, messages };
    Ok(if global.json { render::json(&contents) } else { render::dlq_contents(&contents, style) })
}

// --- replay -------------------------------------------------------------------------------------

async fn run_replay(
    backend: &Backend,
    global: &GlobalArgs,
    replay: &ReplayArgs,
    style: Style,
    terminal: Terminal,
) -> Result<String, CliError> {
    let subscribers = backend.subscribers().await?;
    let subscriber = find_subscriber(&subscribers, &backend.stack, &replay.to)?;
    let owner = subscriber.queue_arn.split(':').nth(4).filter(|account| !account.is_empty());
    let url = backend.queue_url(&subscriber.queue_name, owner).await?.ok_or_else(|| CliError::UnknownConsumer {
        name: replay.to.clone(),
        known: vec![format!("(the subscription's queue {} does not exist)", subscriber.queue_name)],
    })?;
    let filter = ReplayFilter {
        event_type: replay.event_type.clone(),
        order_id: replay.order.clone(),
        since: replay.since,
        until: replay.until,
    };
    let events = match (&filter.order_id, filter.short_type()) {
        (Some(order), _) => backend.query_events("byOrder", "orderId", order).await?,
        (None, Some(event_type)) => backend.query_events("byType", "eventType", &event_type).await?,
        (None, None) => backend.scan_events().await?,
    };
    let (selected, skipped) = select_for_replay(events, &filter, &subscriber.policy)
        .map_err(|source| CliError::Policy { consumer: subscriber.queue_name.clone(), source })?;
    let mut report = ReplayReport {
        consumer: model::short_name(&backend.stack, &subscriber.queue_name),
        queue_name: subscriber.queue_name.clone(),
        dry_run: replay.dry_run,
        sent: 0,
        selected: selected.len(),
        skipped,
        events: Vec::new(),
    };
    if !replay.dry_run {
        let bar = if terminal.progress && !selected.is_empty() {
            let bar = ProgressBar::with_draw_target(Some(selected.len() as u64), ProgressDrawTarget::stderr());
            if let Ok(template) =
                ProgressStyle::with_template("{spinner} replaying to {msg} {bar:30} {pos}/{len} ({eta})")
            {
                bar.set_style(template);
            }
            bar.set_message(report.consumer.clone());
            bar
        } else {
            ProgressBar::hidden()
        };
        let (sent, failed) = backend.send_events(&url, &selected, |count| bar.inc(count as u64)).await?;
        bar.finish_and_clear();
        if failed > 0 {
            return Err(CliError::ReplayIncomplete {
                queue: subscriber.queue_name.clone(),
                sent,
                failed,
                total: selected.len(),
            });
        }
        report.sent = sent;
    }
    report.events = selected;
    Ok(if global.json { render::json(&report) } else { render::replay(&report, style) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn help_and_version_go_to_out() {
        let help = run_to_string(["--help"]).await.unwrap();
        assert_eq!(run_to_string(["orderflow", "--help"]).await.unwrap(), help, "the program name may lead");
        assert_eq!(run_to_string(["/usr/local/bin/orderflow", "--help"]).await.unwrap(), help);
        assert!(help.contains("Usage: orderflow") && help.contains("Examples:"), "{help}");
        let help = run_to_string(["dlq", "--help"]).await.unwrap();
        assert!(help.contains("redrive") && help.contains("visibility timeout of 0"), "{help}");
        let help = run_to_string(["order", "history", "--help"]).await.unwrap();
        assert!(help.contains("time to settle") || help.contains("settle"), "{help}");
        let version = run_to_string(["--version"]).await.unwrap();
        assert!(version.starts_with("orderflow "), "{version}");
    }

    #[tokio::test]
    async fn usage_errors_exit_2_before_any_aws_call() {
        let error = run_to_string(["order", "get", "not-a-uuid"]).await.unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("not an order id"), "{error}");
        let error = run_to_string(["frobnicate"]).await.unwrap_err();
        assert!(matches!(error, CliError::Usage(_)) && error.exit_code() == 2);
        let error = run_to_string([
            "replay",
            "--to",
            "x",
            "--since",
            "2026-01-02T00:00:00Z",
            "--until",
            "2026-01-01T00:00:00Z",
        ])
        .await
        .unwrap_err();
        assert!(error.to_string().contains("is not before"), "{error}");
    }

    #[test]
    fn the_place_body_is_the_api_contract() {
        let cli = Cli::try_parse_from([
            "orderflow",
            "order",
            "place",
            "--email",
            "ada@example.com",
            "--name",
            "Ada",
            "--item",
            "BOOK-0001:2:1999",
        ])
        .unwrap();
        let Command::Order(OrderCommand::Place(place)) = cli.command else { panic!("place") };
        assert_eq!(
            place_body(&place),
            json!({
                "customer": {"id": "ada_example_com", "email": "ada@example.com", "name": "Ada"},
                "currency": "EUR",
                "items": [{"sku": "BOOK-0001", "quantity": 2, "unitPrice": 1999}]
            })
        );
        assert_eq!(customer_id_for(""), "cus_anonymous");
        assert_eq!(customer_id_for(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn problems_read_as_one_line() {
        let answer = aws::ApiAnswer {
            status: 422,
            body: json!({"detail": "the order is invalid", "errors": [{"field": "items[0].quantity", "message": "must be 1-1000"}]}),
            text: String::new(),
        };
        assert_eq!(
            problem(&answer).to_string(),
            "the API answered 422: the order is invalid (items[0].quantity: must be 1-1000)"
        );
    }
}
