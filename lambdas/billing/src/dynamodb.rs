//! The DynamoDB adapter of the payments port. PaymentsTable items: `{orderId, status, amount,
//! currency, eventId, gatewayReference, createdAt}` plus `declineReason` when DECLINED.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{SecondsFormat, Utc};
use orderflow_events::Money;
use uuid::Uuid;

use crate::{Payment, PaymentStatus, PaymentsError, PaymentsStore, RecordOutcome};

#[derive(Debug, Clone)]
pub struct DynamoDbPaymentsStore {
    client: Client,
    table: String,
}

fn store_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> PaymentsError {
    PaymentsError::Store(Box::new(error))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

impl DynamoDbPaymentsStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbPaymentsStore { client, table: table.into() }
    }
}

fn to_item(payment: &Payment) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("orderId".to_owned(), s(payment.order_id.to_string())),
        ("status".to_owned(), s(payment.status.as_str())),
        ("amount".to_owned(), AttributeValue::N(payment.amount.amount.to_string())),
        ("currency".to_owned(), s(payment.amount.currency.as_str())),
        ("eventId".to_owned(), s(payment.event_id.to_string())),
        ("gatewayReference".to_owned(), s(&payment.gateway_reference)),
        ("createdAt".to_owned(), s(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true))),
    ]);
    if let Some(reason) = &payment.decline_reason {
        item.insert("declineReason".to_owned(), s(reason));
    }
    item
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Payment, PaymentsError> {
    let text = |name: &str| {
        item.get(name)
            .and_then(|value| value.as_s().ok())
            .map(String::as_str)
            .ok_or_else(|| PaymentsError::Malformed(format!("no string `{name}`")))
    };
    let malformed = |name: &str, error: &dyn std::fmt::Display| PaymentsError::Malformed(format!("`{name}`: {error}"));
    let order_id = Uuid::parse_str(text("orderId")?).map_err(|e| malformed("orderId", &e))?;
    let event_id = Uuid::parse_str(text("eventId")?).map_err(|e| malformed("eventId", &e))?;
    let status =
        PaymentStatus::parse(text("status")?).ok_or_else(|| PaymentsError::Malformed("unknown `status`".to_owned()))?;
    let amount = item
        .get("amount")
        .and_then(|value| value.as_n().ok())
        .ok_or_else(|| PaymentsError::Malformed("no number `amount`".to_owned()))?
        .parse::<u64>()
        .map_err(|e| malformed("amount", &e))?;
    let currency = text("currency")?.parse().map_err(|e| malformed("currency", &e))?;
    Ok(Payment {
        order_id,
        status,
        amount: Money::new(amount, currency),
        event_id,
        gateway_reference: text("gatewayReference")?.to_owned(),
        decline_reason: text("declineReason").ok().map(str::to_owned),
    })
}

#[async_trait]
impl PaymentsStore for DynamoDbPaymentsStore {
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, PaymentsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("orderId", s(order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output.item().map(from_item).transpose()
    }

    async fn record(&self, payment: &Payment) -> Result<RecordOutcome, PaymentsError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(payment)))
            .condition_expression("attribute_not_exists(orderId)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(RecordOutcome::Recorded),
            Err(error) => {
                let error = error.into_service_error();
                if !error.is_conditional_check_failed_exception() {
                    return Err(store_error(error));
                }
                match self.find(payment.order_id).await? {
                    Some(existing) => Ok(RecordOutcome::AlreadyRecorded(existing)),
                    // Payments are never deleted; if it happens anyway, a retry settles it.
                    None => Err(PaymentsError::Store("payment vanished after a conditional failure".into())),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let payment = Payment {
            order_id: Uuid::now_v7(),
            status: PaymentStatus::Declined,
            amount: Money::new(123_456, "JPY".parse().unwrap()),
            event_id: Uuid::now_v7(),
            gateway_reference: "sim_dc_x".into(),
            decline_reason: Some("AMOUNT_OVER_LIMIT".into()),
        };
        let item = to_item(&payment);
        assert_eq!(item["amount"], AttributeValue::N("123456".into()));
        assert_eq!(item["status"], s("DECLINED"));
        assert_eq!(from_item(&item).unwrap(), payment);
    }
}
