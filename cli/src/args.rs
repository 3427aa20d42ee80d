//! The command line: what `orderflow --help` shows. Parsing only; no AWS here.

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

const ABOUT: &str = "Operate an orderflow stack: place and inspect orders, follow an order's events, read and \
redrive dead-letter queues, replay stored events into one consumer.";

const LONG_ABOUT: &str = "Operate an orderflow stack: place and inspect orders, follow an order's events, read and \
redrive dead-letter queues, replay stored events into one consumer.

On AWS it uses the standard credential chain (environment, profile, web identity, container or instance role) and reads the \
stack's outputs (CloudFormation DescribeStacks). With --local (or ORDERFLOW_LOCAL=1, or LOCALSTACK_ENDPOINT \
set) it talks to LocalStack instead: the endpoint from AWS_ENDPOINT_URL, else LOCALSTACK_ENDPOINT, else http://127.0.0.1:${LOCALSTACK_PORT:-4566}, with test \
credentials and region us-east-1 unless set.";

const AFTER_HELP: &str = "Examples:
  orderflow --local order place --email ada@example.com --item BOOK-0001:2:1999
  orderflow --local order history 0193a5d2-7c1d-7000-8000-0123456789ab
  orderflow dlq
  orderflow dlq show inventory
  orderflow dlq redrive inventory --rate 10
  orderflow replay --to loyalty --type OrderConfirmed --since 2026-11-01T00:00:00Z --dry-run
  orderflow --json dlq | jq '.[] | select(.depth > 0)'";

/// The heading of the flags every command takes, apart from each command's own.
const GLOBAL: &str = "Global options";

/// `orderflow`: the top level.
#[derive(Debug, Parser)]
#[command(name = "orderflow", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The CloudFormation stack to operate on [default: orderflow; orderflow-local with --local]
    #[arg(long, global = true, env = "ORDERFLOW_STACK", value_name = "NAME", help_heading = GLOBAL)]
    pub stack: Option<String>,
    /// Talk to LocalStack instead of AWS (also when LOCALSTACK_ENDPOINT is set, as `make demo` and
    /// the end-to-end run set it)
    #[arg(long, global = true, env = "ORDERFLOW_LOCAL", value_parser = clap::builder::BoolishValueParser::new(), help_heading = GLOBAL)]
    pub local: bool,
    /// The AWS region [default: from the AWS configuration; us-east-1 with --local]
    #[arg(long, global = true, value_name = "REGION", help_heading = GLOBAL)]
    pub region: Option<String>,
    /// Print one JSON document on stdout instead of tables
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
}

impl GlobalArgs {
    /// LocalStack mode: `--local` (ORDERFLOW_LOCAL), or `local_endpoint_set` (LOCALSTACK_ENDPOINT,
    /// the project's own variable for a running LocalStack).
    pub fn is_local(&self, local_endpoint_set: bool) -> bool {
        self.local || local_endpoint_set
    }

    /// The stack name, defaulted by mode.
    pub fn stack_name(&self, local: bool) -> String {
        match &self.stack {
            Some(stack) => stack.clone(),
            None if local => "orderflow-local".to_owned(),
            None => "orderflow".to_owned(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Place an order, read it back, or follow its events
    #[command(subcommand)]
    Order(OrderCommand),
    /// Dead-letter queues: depth and age, their messages and why they failed, redrive
    #[command(
        long_about = "Dead-letter queues. Without a subcommand: every DLQ of the stack (its outputs ending in DlqUrl) \
with its depth and the age of its oldest message.

NAME is the consumer (`inventory`, `order-lifecycle-timer`) or the full queue name (a DLQ of another \
stack).

Reading a DLQ (`dlq`, `dlq show`) receives messages with a visibility timeout of 0 and never deletes \
them: each read counts as a receive, which is harmless on a DLQ (it has no redrive policy of its own).",
        after_help = "Examples:
  orderflow dlq
  orderflow dlq show billing
  orderflow dlq redrive billing --rate 5
  orderflow dlq redrive-status billing
  orderflow dlq redrive-cancel billing"
    )]
    Dlq(DlqArgs),
    /// Re-send stored events to one consumer's queue (never the topic)
    #[command(
        long_about = "Re-send stored events to one consumer's queue (never the topic).

Reads the event store (by order with --order, by type with --type, else every event), keeps the events \
the consumer's subscription filter policy accepts, and sends each to that consumer's queue only, with its \
body and message attributes exactly as published. No other consumer sees them again. A consumer that has \
already handled an event skips it (its idempotency record), so replaying into an up-to-date consumer \
changes nothing.

CONSUMER is the queue name without the `<stack>-` prefix (`inventory`), or a full queue name for a \
consumer of another stack subscribed to the same topic.",
        after_help = "Examples:
  orderflow replay --to loyalty --type OrderConfirmed --dry-run
  orderflow replay --to shipping --order 0193a5d2-7c1d-7000-8000-0123456789ab
  orderflow replay --to inventory --since 2026-11-23T18:00:00Z --until 2026-11-23T19:00:00Z"
    )]
    Replay(ReplayArgs),
}

#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Place an order through the API (POST /orders)
    #[command(after_help = "Examples:
  orderflow order place --email ada@example.com --name 'Ada Lovelace' --item BOOK-0001:2:1999
  orderflow order place --email ada@example.com --item BOOK-0001:1:1999 --item MUG-0002:3:850 \\
      --currency USD --idempotency-key checkout-4711")]
    Place(PlaceArgs),
    /// Read an order (GET /orders/{id})
    Get {
        /// The order id
        id: String,
    },
    /// The order's journey: each event, who produced it, which consumers handled it and when
    #[command(long_about = "The order's journey as a timeline: each event from the event store in time order, who \
produced it, its correlation id, and each consumer that handled it (from its idempotency record) with the \
time the hop took. Which consumers may handle an event comes from the topic's subscriptions and their \
filter policies. Ends with the time the order took to settle (OrderPlaced to OrderConfirmed or \
OrderCancelled).")]
    History {
        /// The order id
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct PlaceArgs {
    /// The customer's email address
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
    /// The customer's name
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The customer id [default: derived from the email, so one address is one customer]
    #[arg(long, value_name = "ID")]
    pub customer_id: Option<String>,
    /// A line item, SKU:QUANTITY:UNIT_PRICE_CENTS (repeat for more)
    #[arg(long = "item", value_name = "SKU:QTY:UNIT_PRICE_CENTS", required = true, value_parser = parse_item)]
    pub items: Vec<Item>,
    /// ISO 4217 currency code
    #[arg(long, default_value = "EUR", value_name = "CODE")]
    pub currency: String,
    /// Sent as the Idempotency-Key header: the same key and body again places no second order
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// One `--item`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub sku: String,
    pub quantity: u32,
    pub unit_price: u64,
}

fn parse_item(value: &str) -> Result<Item, String> {
    let parts: Vec<&str> = value.split(':').collect();
    let [sku, quantity, unit_price] = parts.as_slice() else {
        return Err(format!("expected SKU:QUANTITY:UNIT_PRICE_CENTS, e.g. BOOK-0001:2:1999, got `{value}`"));
    };
    if sku.is_empty() {
        return Err("the SKU is empty".to_owned());
    }
    let quantity = quantity.parse().map_err(|_| format!("quantity `{quantity}` is not a whole number"))?;
    let unit_price =
        unit_price.parse().map_err(|_| format!("unit price `{unit_price}` is not a whole number of cents"))?;
    Ok(Item { sku: (*sku).to_owned(), quantity, unit_price })
}

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub command: Option<DlqCommand>,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Every DLQ with its depth and the age of its oldest message (the default)
    List,
    /// The messages of one DLQ, decoded, with the reason the consumer logged (nothing is deleted)
    Show {
        /// The consumer or the DLQ's queue name
        name: String,
        /// Look at most at this many messages
        #[arg(long, default_value_t = 50)]
        max: usize,
    },
    /// Move the DLQ's messages back to their source queue (SQS StartMessageMoveTask)
    Redrive {
        /// The consumer or the DLQ's queue name
        name: String,
        /// Messages per second [default: as fast as SQS allows]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=500))]
        rate: Option<i32>,
    },
    /// The redrive tasks of a DLQ, newest first, with their progress
    RedriveStatus {
        /// The consumer or the DLQ's queue name
        name: String,
    },
    /// Cancel the running redrive of a DLQ
    RedriveCancel {
        /// The consumer or the DLQ's queue name
        name: String,
        /// The task handle `dlq redrive` printed [default: the DLQ's running task]
        #[arg(long, value_name = "HANDLE")]
        handle: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The consumer to replay into: `inventory`, or a full queue name
    #[arg(long = "to", value_name = "CONSUMER")]
    pub to: String,
    /// Only events of this type (`OrderConfirmed`)
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Only the events of this order
    #[arg(long = "order", value_name = "ID")]
    pub order: Option<String>,
    /// Only events at or after this time (RFC 3339)
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339)
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// List what would be sent; send nothing
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_time(value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| format!("`{value}` is not an RFC 3339 time such as 2026-11-23T18:30:00Z: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("orderflow").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn place_parses_items_and_defaults() {
        let cli =
            parse(&["order", "place", "--email", "a@b.c", "--item", "BOOK-1:2:1999", "--item", "MUG:1:0"]).unwrap();
        let Command::Order(OrderCommand::Place(place)) = cli.command else { panic!("not place") };
        assert_eq!(place.currency, "EUR");
        assert_eq!(
            place.items,
            vec![
                Item { sku: "BOOK-1".into(), quantity: 2, unit_price: 1999 },
                Item { sku: "MUG".into(), quantity: 1, unit_price: 0 }
            ]
        );
        assert_eq!(cli.global.stack_name(cli.global.is_local(false)), "orderflow");
        assert_eq!(cli.global.stack_name(cli.global.is_local(true)), "orderflow-local", "LOCALSTACK_ENDPOINT set");
    }

    #[test]
    fn a_bad_item_is_a_usage_error_naming_the_format() {
        let error = parse(&["order", "place", "--email", "a@b.c", "--item", "BOOK-1:two:1999"]).unwrap_err();
        assert!(error.to_string().contains("quantity `two`"), "{error}");
        let error = parse(&["order", "place", "--email", "a@b.c", "--item", "BOOK-1"]).unwrap_err();
        assert!(error.to_string().contains("SKU:QUANTITY:UNIT_PRICE_CENTS"), "{error}");
        assert!(parse(&["order", "place", "--email", "a@b.c"]).is_err(), "an item is required");
    }

    #[test]
    fn global_flags_go_anywhere_and_local_changes_the_default_stack() {
        let cli = parse(&["dlq", "--local", "--json"]).unwrap();
        assert!(cli.global.local && cli.global.json);
        assert_eq!(cli.global.stack_name(cli.global.is_local(false)), "orderflow-local");
        let cli = parse(&["--stack", "prod-orders", "--local", "dlq"]).unwrap();
        assert_eq!(cli.global.stack_name(true), "prod-orders");
        assert!(matches!(cli.command, Command::Dlq(DlqArgs { command: None })));
    }

    #[test]
    fn dlq_subcommands_parse() {
        let cli = parse(&["dlq", "redrive", "inventory", "--rate", "10"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Dlq(DlqArgs { command: Some(DlqCommand::Redrive { ref name, rate: Some(10) }) }) if name == "inventory"
        ));
        assert!(parse(&["dlq", "redrive", "inventory", "--rate", "0"]).is_err());
        let cli = parse(&["dlq", "show", "billing"]).unwrap();
        assert!(matches!(cli.command, Command::Dlq(DlqArgs { command: Some(DlqCommand::Show { max: 50, .. }) })));
        let cli = parse(&["dlq", "redrive-cancel", "billing", "--handle", "h-1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Dlq(DlqArgs { command: Some(DlqCommand::RedriveCancel { handle: Some(_), .. }) })
        ));
    }

    #[test]
    fn replay_parses_times_and_rejects_bad_ones() {
        let cli = parse(&[
            "replay",
            "--to",
            "loyalty",
            "--type",
            "OrderConfirmed",
            "--since",
            "2026-11-23T18:00:00+01:00",
            "--dry-run",
        ])
        .unwrap();
        let Command::Replay(replay) = cli.command else { panic!("not replay") };
        assert_eq!(replay.to, "loyalty");
        assert_eq!(replay.event_type.as_deref(), Some("OrderConfirmed"));
        assert_eq!(replay.since.unwrap().to_rfc3339(), "2026-11-23T17:00:00+00:00");
        assert!(replay.dry_run);
        let error = parse(&["replay", "--to", "x", "--since", "yesterday"]).unwrap_err();
        assert!(error.to_string().contains("RFC 3339"), "{error}");
        assert!(parse(&["replay"]).is_err(), "--to is required");
    }

    #[test]
    fn help_has_examples_and_every_command() {
        let help = Cli::command().render_long_help().to_string();
        for needle in ["order", "dlq", "replay", "--local", "--json", "--stack", "Examples:", "credential chain"] {
            assert!(help.contains(needle), "help lacks {needle}:\n{help}");
        }
        let mut command = Cli::command();
        let replay = command.find_subcommand_mut("replay").unwrap().render_long_help().to_string();
        assert!(replay.contains("never the topic") && replay.contains("--dry-run"), "{replay}");
    }
}
