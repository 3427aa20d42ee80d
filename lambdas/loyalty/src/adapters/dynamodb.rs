//! The DynamoDB adapter of the points port. LoyaltyPoints items: `{customerId, points (N),
//! orders (N), lastOrderId, lastEventId, updatedAt}`. The end-to-end tests read these names:
//! keep them.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use orderflow_kit::dynamodb::{Item, ItemExt, MalformedItem, RequestFailed, n, s, timestamp};

use crate::domain::{Account, AddOutcome, Award};
use crate::ports::{LedgerError, PointsLedger};

/// The table's key.
const CUSTOMER_ID: &str = "customerId";

/// ADD creates the account at zero on its first order; the condition refuses only the event
/// applied last (see [`PointsLedger::add`]).
const ADD_EXPRESSION: &str =
    "ADD points :points, orders :one SET lastOrderId = :order, lastEventId = :event, updatedAt = :at";
const NOT_LAST_EVENT: &str = "attribute_not_exists(lastEventId) OR lastEventId <> :event";

#[derive(Debug, Clone)]
pub struct DynamoDbPointsLedger {
    client: Client,
    table: String,
}

impl DynamoDbPointsLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbPointsLedger { client, table: table.into() }
    }
}

fn from_item(item: &Item) -> Result<Account, MalformedItem> {
    Ok(Account {
        customer_id: item.string(CUSTOMER_ID)?.to_owned(),
        points: item.number("points")?,
        orders: item.number("orders")?,
        last_order_id: item.get("lastOrderId").map(|_| item.parsed("lastOrderId")).transpose()?,
        last_event_id: item.get("lastEventId").map(|_| item.parsed("lastEventId")).transpose()?,
    })
}

#[async_trait]
impl PointsLedger for DynamoDbPointsLedger {
    async fn find(&self, customer_id: &str) -> Result<Option<Account>, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(CUSTOMER_ID, s(customer_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| RequestFailed::new("GetItem", error))?;
        Ok(output.item().map(from_item).transpose()?)
    }

    async fn add(&self, award: &Award) -> Result<AddOutcome, LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(CUSTOMER_ID, s(&award.customer_id))
            .update_expression(ADD_EXPRESSION)
            .condition_expression(NOT_LAST_EVENT)
            .expression_attribute_values(":points", n(award.points))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":order", s(award.order_id.to_string()))
            .expression_attribute_values(":event", s(award.event_id.to_string()))
            .expression_attribute_values(":at", timestamp(award.at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(AddOutcome::Added(from_item(&item)?))
            }
            Err(error) => {
                let error = error.into_service_error();
                if error.is_conditional_check_failed_exception() {
                    Ok(AddOutcome::AlreadyApplied)
                } else {
                    Err(RequestFailed::new("UpdateItem", error).into())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn an_account_is_read_with_its_attribute_names() {
        let (order, event) = (Uuid::now_v7(), Uuid::now_v7());
        let item = Item::from([
            ("customerId".to_owned(), s("cus_1")),
            ("points".to_owned(), n(42)),
            ("orders".to_owned(), n(2)),
            ("lastOrderId".to_owned(), s(order.to_string())),
            ("lastEventId".to_owned(), s(event.to_string())),
            ("updatedAt".to_owned(), s("2026-11-23T18:30:00.123Z")),
        ]);
        assert_eq!(
            from_item(&item).unwrap(),
            Account {
                customer_id: "cus_1".into(),
                points: 42,
                orders: 2,
                last_order_id: Some(order),
                last_event_id: Some(event)
            }
        );
    }

    #[test]
    fn a_malformed_account_names_its_attribute() {
        let item = Item::from([("customerId".to_owned(), s("cus_1")), ("points".to_owned(), s("many"))]);
        assert_eq!(from_item(&item).unwrap_err().attribute, "points");
        let item = Item::from([
            ("customerId".to_owned(), s("cus_1")),
            ("points".to_owned(), n(1)),
            ("orders".to_owned(), n(1)),
            ("lastEventId".to_owned(), s("not-a-uuid")),
        ]);
        assert_eq!(from_item(&item).unwrap_err().attribute, "lastEventId");
    }

    #[test]
    fn the_update_adds_and_guards_the_last_event() {
        assert!(ADD_EXPRESSION.starts_with("ADD points :points, orders :one"));
        assert!(NOT_LAST_EVENT.contains("lastEventId <> :event"));
    }
}
