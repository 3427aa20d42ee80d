//! The DynamoDB adapter of the payments port. PaymentsTable items: `{orderId, status, amount,
//! currency, eventId, createdAt, updatedAt}`, plus `authorizationId` once authorized, `reason`
//! when DECLINED and `outcomeEventId` (the PaymentAuthorized/PaymentDeclined written with the
//! record). The end-to-end tests read these names: keep them.
//!
//! An outcome and its outbox entry go in one `TransactWriteItems` (the outbox crate builds its
//! item), so neither is ever written without the other.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use orderflow_events::{DeclineReason, Money};
use orderflow_kit::dynamodb::{
    Item, ItemExt, MalformedItem, PutIfAbsentError, PutOutcome, RequestFailed, n, put_if_absent, s, timestamp,
};
use orderflow_outbox::{DynamoDbOutbox, OutboxEntry};
use uuid::Uuid;

use crate::domain::{Payment, PaymentState, PaymentStatus, RecordOutcome, SettleOutcome, Settlement};
use crate::ports::{PaymentsError, PaymentsStore};

/// The table's key.
const ORDER_ID: &str = "orderId";

/// PaymentsTable, and OutboxTable for the entries written with the outcomes.
#[derive(Debug, Clone)]
pub struct DynamoDbPaymentsStore {
    client: Client,
    table: String,
    outbox: DynamoDbOutbox,
}

impl DynamoDbPaymentsStore {
    pub fn new(client: Client, table: impl Into<String>, outbox_table: impl Into<String>) -> Self {
        let outbox = DynamoDbOutbox::new(client.clone(), outbox_table);
        DynamoDbPaymentsStore { client, table: table.into(), outbox }
    }

    async fn read(&self, order_id: Uuid) -> Result<Option<Item>, RequestFailed> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ORDER_ID, s(order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| RequestFailed::new("GetItem", error))?;
        Ok(output.item)
    }

    /// The record that made a conditional write fail.
    async fn winner(&self, order_id: Uuid) -> Result<Payment, PaymentsError> {
        match self.read(order_id).await? {
            Some(item) => Ok(from_item(&item)?),
            None => Err(PaymentsError::Vanished { order_id }),
        }
    }
}

/// A transaction cancelled for a reason the store does not turn into an outcome.
#[derive(Debug, thiserror::Error)]
#[error("TransactWriteItems cancelled: {0:?}")]
struct Cancelled(Vec<String>);

fn to_item(payment: &Payment) -> Item {
    let mut item = Item::from([
        (ORDER_ID.to_owned(), s(payment.order_id.to_string())),
        ("status".to_owned(), s(payment.status().as_str())),
        ("amount".to_owned(), n(payment.amount.amount)),
        ("currency".to_owned(), s(payment.amount.currency.as_str())),
        ("eventId".to_owned(), s(payment.event_id.to_string())),
        ("createdAt".to_owned(), timestamp(payment.created_at)),
        ("updatedAt".to_owned(), timestamp(payment.updated_at)),
    ]);
    if let Some(authorization_id) = payment.state.authorization_id() {
        item.insert("authorizationId".to_owned(), s(authorization_id));
    }
    if let PaymentState::Declined { reason } = &payment.state {
        item.insert("reason".to_owned(), s(reason.as_str()));
    }
    if let Some(outcome_event_id) = payment.outcome_event_id {
        item.insert("outcomeEventId".to_owned(), s(outcome_event_id.to_string()));
    }
    item
}

fn from_item(item: &Item) -> Result<Payment, MalformedItem> {
    let authorization_id = || item.string("authorizationId").map(str::to_owned);
    let state = match item.parsed::<PaymentStatus>("status")? {
        PaymentStatus::Authorized => PaymentState::Authorized { authorization_id: authorization_id()? },
        PaymentStatus::Captured => PaymentState::Captured { authorization_id: authorization_id()? },
        PaymentStatus::Declined => PaymentState::Declined {
            reason: DeclineReason::new(item.string("reason")?)
                .map_err(|error| MalformedItem::new("reason", error.to_string()))?,
        },
        PaymentStatus::Voided => {
            PaymentState::Voided { authorization_id: item.optional_string("authorizationId").map(str::to_owned) }
        }
    };
    let outcome_event_id = match item.get("outcomeEventId") {
        Some(_) => Some(item.parsed("outcomeEventId")?),
        None => None,
    };
    Ok(Payment {
        order_id: item.parsed(ORDER_ID)?,
        state,
        amount: Money::new(item.number("amount")?, item.parsed("currency")?),
        event_id: item.parsed("eventId")?,
        outcome_event_id,
        created_at: item.time("createdAt")?,
        updated_at: item.time("updatedAt")?,
    })
}

/// The port's view of a failed conditional write. No `_` arm: a new way for the kit's write to
/// fail must be given a meaning here.
fn record_error(error: PutIfAbsentError, order_id: Uuid) -> PaymentsError {
    match error {
        PutIfAbsentError::Request(failed) => PaymentsError::Store(failed),
        PutIfAbsentError::Vanished { .. } => PaymentsError::Vanished { order_id },
    }
}

/// What a cancelled outcome transaction means, from its reasons (in the order of the writes:
/// the payment, then the outbox entry; "None" for a write that was fine).
#[derive(Debug, PartialEq, Eq)]
enum CancelledOutcome {
    /// The payment's condition failed: the order has a record.
    PaymentExists,
    /// A concurrent transaction, or an outbox event id taken: retry.
    Contended,
    Other,
}

fn cancelled_outcome(reasons: &[&str]) -> CancelledOutcome {
    if reasons.first() == Some(&"ConditionalCheckFailed") {
        CancelledOutcome::PaymentExists
    } else if reasons.iter().all(|code| matches!(*code, "None" | "ConditionalCheckFailed" | "TransactionConflict")) {
        CancelledOutcome::Contended
    } else {
        CancelledOutcome::Other
    }
}

#[async_trait]
impl PaymentsStore for DynamoDbPaymentsStore {
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, PaymentsError> {
        Ok(self.read(order_id).await?.as_ref().map(from_item).transpose()?)
    }

    async fn record_outcome(
        &self,
        payment: &Payment,
        announcement: &OutboxEntry,
    ) -> Result<RecordOutcome, PaymentsError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(payment)))
            .condition_expression("attribute_not_exists(orderId)")
            .build()?;
        let writes = vec![TransactWriteItem::builder().put(put).build(), self.outbox.put(announcement)?];
        let error = match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => return Ok(RecordOutcome::Recorded),
            Err(error) => error,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error() else {
            return Err(RequestFailed::new("TransactWriteItems", error).into());
        };
        let reasons: Vec<&str> =
            cancelled.cancellation_reasons().iter().map(|reason| reason.code().unwrap_or("None")).collect();
        match cancelled_outcome(&reasons) {
            CancelledOutcome::PaymentExists => Ok(RecordOutcome::AlreadyRecorded(self.winner(payment.order_id).await?)),
            CancelledOutcome::Contended => Err(PaymentsError::Contended { order_id: payment.order_id }),
            CancelledOutcome::Other => {
                let reasons = reasons.into_iter().map(str::to_owned).collect();
                Err(RequestFailed::new("TransactWriteItems", Cancelled(reasons)).into())
            }
        }
    }

    async fn record(&self, payment: &Payment) -> Result<RecordOutcome, PaymentsError> {
        match put_if_absent(&self.client, &self.table, ORDER_ID, to_item(payment)).await {
            Ok(PutOutcome::Written) => Ok(RecordOutcome::Recorded),
            Ok(PutOutcome::Exists(existing)) => Ok(RecordOutcome::AlreadyRecorded(from_item(&existing)?)),
            Err(error) => Err(record_error(error, payment.order_id)),
        }
    }

    async fn settle(
        &self,
        order_id: Uuid,
        settlement: Settlement,
        at: DateTime<Utc>,
    ) -> Result<SettleOutcome, PaymentsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ORDER_ID, s(order_id.to_string()))
            .update_expression("SET #status = :next, updatedAt = :at")
            .condition_expression("#status = :authorized")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":next", s(settlement.status().as_str()))
            .expression_attribute_values(":authorized", s(PaymentStatus::Authorized.as_str()))
            .expression_attribute_values(":at", timestamp(at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => match output.attributes() {
                Some(item) => Ok(SettleOutcome::Settled(from_item(item)?)),
                None => Err(MalformedItem::new("(payment)", "UpdateItem returned no attributes").into()),
            },
            Err(error) => {
                let error = error.into_service_error();
                if error.is_conditional_check_failed_exception() {
                    Ok(SettleOutcome::NotAuthorized(self.winner(order_id).await?))
                } else {
                    Err(RequestFailed::new("UpdateItem", error).into())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).unwrap()
    }

    fn payment(state: PaymentState) -> Payment {
        Payment {
            order_id: Uuid::now_v7(),
            state,
            amount: Money::new(123_456, "JPY".parse().unwrap()),
            event_id: Uuid::now_v7(),
            outcome_event_id: Some(Uuid::now_v7()),
            created_at: at(1_795_458_600_123),
            updated_at: at(1_795_458_600_456),
        }
    }

    fn every_state() -> Vec<PaymentState> {
        vec![
            PaymentState::Authorized { authorization_id: "sim_auth_a".into() },
            PaymentState::Captured { authorization_id: "sim_auth_a".into() },
            PaymentState::Declined { reason: DeclineReason::limit_exceeded() },
            PaymentState::Voided { authorization_id: Some("sim_auth_a".into()) },
            PaymentState::Voided { authorization_id: None },
        ]
    }

    #[test]
    fn items_round_trip_in_every_state() {
        for state in every_state() {
            let payment = payment(state);
            assert_eq!(from_item(&to_item(&payment)).unwrap(), payment);
        }
        let cancelled_first =
            Payment { outcome_event_id: None, ..payment(PaymentState::Voided { authorization_id: None }) };
        let item = to_item(&cancelled_first);
        assert!(!item.contains_key("outcomeEventId") && !item.contains_key("authorizationId"));
        assert_eq!(from_item(&item).unwrap(), cancelled_first);
    }

    #[test]
    fn items_have_the_contract_attributes() {
        let declined = payment(PaymentState::Declined { reason: DeclineReason::limit_exceeded() });
        let item = to_item(&declined);
        assert_eq!(item["amount"], n(123_456));
        assert_eq!(item["currency"], s("JPY"));
        assert_eq!(item["status"], s("DECLINED"));
        assert_eq!(item["reason"], s("LIMIT_EXCEEDED"));
        assert_eq!(item["createdAt"], s("2026-11-23T18:30:00.123Z"));
        assert!(!item.contains_key("authorizationId"));
        let authorized = to_item(&payment(PaymentState::Authorized { authorization_id: "sim_auth_a".into() }));
        assert_eq!(authorized["status"], s("AUTHORIZED"));
        assert_eq!(authorized["authorizationId"], s("sim_auth_a"));
        assert!(!authorized.contains_key("reason"));
    }

    #[test]
    fn a_malformed_item_names_its_attribute() {
        let mut item = to_item(&payment(PaymentState::Authorized { authorization_id: "sim_auth_a".into() }));
        item.insert("status".to_owned(), s("REFUNDED"));
        assert_eq!(from_item(&item).unwrap_err().attribute, "status");
        item.insert("status".to_owned(), s("CAPTURED"));
        item.remove("authorizationId");
        assert_eq!(from_item(&item).unwrap_err(), MalformedItem::new("authorizationId", "is missing"));
        item.insert("status".to_owned(), s("DECLINED"));
        item.insert("reason".to_owned(), s("limit exceeded"));
        assert_eq!(from_item(&item).unwrap_err().attribute, "reason");
        item.insert("status".to_owned(), s("VOIDED"));
        item.remove("updatedAt");
        assert_eq!(from_item(&item).unwrap_err(), MalformedItem::new("updatedAt", "is missing"));
    }

    #[test]
    fn cancellation_reasons_are_read_in_write_order() {
        assert_eq!(cancelled_outcome(&["ConditionalCheckFailed", "None"]), CancelledOutcome::PaymentExists);
        assert_eq!(cancelled_outcome(&["TransactionConflict", "None"]), CancelledOutcome::Contended);
        assert_eq!(cancelled_outcome(&["None", "ConditionalCheckFailed"]), CancelledOutcome::Contended);
        assert_eq!(cancelled_outcome(&["ValidationError", "None"]), CancelledOutcome::Other);
    }

    #[test]
    fn a_vanished_winner_is_the_ports_vanished_payment() {
        let order_id = Uuid::now_v7();
        let vanished = record_error(PutIfAbsentError::Vanished { key: order_id.to_string() }, order_id);
        assert!(matches!(vanished, PaymentsError::Vanished { order_id: id } if id == order_id));
        let failed = PutIfAbsentError::Request(RequestFailed::new("PutItem", std::io::Error::other("throttled")));
        assert!(matches!(record_error(failed, order_id), PaymentsError::Store(_)));
    }
}
