//! The DynamoDB points ledger against a local DynamoDB (LocalStack): the `ADD` and its guard.
//! `localstack/start && cargo test -p loyalty --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Utc};
use loyalty::{AddOutcome, Award, DynamoDbPointsLedger, PointsLedger};
use orderflow_consumer::testing::dynamodb::{create_table, delete_table, local_client};
use uuid::Uuid;

fn award(customer_id: &str, points: u64) -> Award {
    Award {
        customer_id: customer_id.to_owned(),
        points,
        order_id: Uuid::now_v7(),
        event_id: Uuid::now_v7(),
        at: DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap(),
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn adds_accumulate_and_the_last_event_is_not_added_twice() {
    let client = local_client();
    let table = create_table(&client, "loyalty", "customerId").await;
    let ledger = DynamoDbPointsLedger::new(client.clone(), &table);
    let customer = format!("cus_{}", Uuid::now_v7().simple());
    assert_eq!(ledger.find(&customer).await.unwrap(), None);

    let first = award(&customer, 19);
    let AddOutcome::Added(account) = ledger.add(&first).await.unwrap() else { panic!("the first add applies") };
    assert_eq!((account.points, account.orders, account.last_event_id), (19, 1, Some(first.event_id)));
    assert_eq!(ledger.add(&first).await.unwrap(), AddOutcome::AlreadyApplied);

    let second = award(&customer, 25);
    let AddOutcome::Added(account) = ledger.add(&second).await.unwrap() else { panic!("a new event applies") };
    assert_eq!((account.points, account.orders), (44, 2));
    assert_eq!(account.last_order_id, Some(second.order_id));
    assert_eq!(ledger.find(&customer).await.unwrap(), Some(account));
    delete_table(&client, &table).await;
}
