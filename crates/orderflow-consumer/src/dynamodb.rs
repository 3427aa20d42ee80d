//! The DynamoDB adapter of the idempotency port (IdempotencyTable, key `pk`, TTL `expiresAt`).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use orderflow_kit::dynamodb::{ItemExt, RequestFailed, n as number};

use crate::idempotency::{BeginOutcome, IdempotencyError, IdempotencyStore, RecordStatus};

const PK: &str = "pk";
const STATUS: &str = "status";
const IN_PROGRESS_UNTIL: &str = "inProgressUntil";
const EXPIRES_AT: &str = "expiresAt";
const COMPLETED_AT: &str = "completedAt";
const COMPLETED_AT_MS: &str = "completedAtMs";

/// Records are `{pk, status, inProgressUntil, expiresAt}` with epoch-second numbers; a COMPLETED
/// record also carries `completedAt` (epoch seconds) and `completedAtMs` (epoch milliseconds),
/// from which `orderflow order history` tells how long each hop took.
#[derive(Debug, Clone)]
pub struct DynamoDbIdempotencyStore {
    client: Client,
    table: String,
}

impl DynamoDbIdempotencyStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbIdempotencyStore { client, table: table.into() }
    }

    /// The record's status, read strongly consistent: the conditional write just lost against it.
    async fn read_status(&self, key: &str) -> Result<Option<RecordStatus>, IdempotencyError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .projection_expression("#status")
            .expression_attribute_names("#status", STATUS)
            .send()
            .await
            .map_err(|error| store_error("GetItem", error))?;
        let Some(item) = output.item else { return Ok(None) };
        let status = item
            .string(STATUS)
            .map_err(|malformed| IdempotencyError::Malformed { key: key.to_owned(), reason: malformed.to_string() })?;
        RecordStatus::parse(status).map(Some).ok_or_else(|| IdempotencyError::Malformed {
            key: key.to_owned(),
            reason: format!("unknown status {status:?}"),
        })
    }
}

fn store_error<E>(operation: &'static str, error: E) -> IdempotencyError
where
    E: std::error::Error + Send + Sync + 'static,
{
    IdempotencyError::Store(Box::new(RequestFailed::new(operation, error)))
}

#[async_trait]
impl IdempotencyStore for DynamoDbIdempotencyStore {
    async fn begin(
        &self,
        key: &str,
        now: i64,
        in_progress_until: i64,
        expires_at: i64,
    ) -> Result<BeginOutcome, IdempotencyError> {
        // Two rounds at most: if the record we lost against is gone by the time we read it (its
        // owner released it), the claim is free again and one more write settles it.
        for _ in 0..2 {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, AttributeValue::S(key.to_owned()))
                .item(STATUS, AttributeValue::S(RecordStatus::InProgress.as_str().to_owned()))
                .item(IN_PROGRESS_UNTIL, number(in_progress_until))
                .item(EXPIRES_AT, number(expires_at))
                .condition_expression("attribute_not_exists(#pk) OR (#status = :in_progress AND #until < :now)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#status", STATUS)
                .expression_attribute_names("#until", IN_PROGRESS_UNTIL)
                .expression_attribute_values(
                    ":in_progress",
                    AttributeValue::S(RecordStatus::InProgress.as_str().into()),
                )
                .expression_attribute_values(":now", number(now))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(BeginOutcome::Acquired),
                Err(error) => {
                    let error = error.into_service_error();
                    if !error.is_conditional_check_failed_exception() {
                        return Err(store_error("PutItem", error));
                    }
                }
            }
            match self.read_status(key).await? {
                Some(RecordStatus::Completed) => return Ok(BeginOutcome::AlreadyCompleted),
                // Held by someone whose time has not run out (or ran out a moment ago: the
                // redelivery will take it over).
                Some(RecordStatus::InProgress) => return Ok(BeginOutcome::InProgressElsewhere),
                None => continue,
            }
        }
        Ok(BeginOutcome::InProgressElsewhere)
    }

    async fn complete(&self, key: &str, completed_at_ms: i64, expires_at: i64) -> Result<(), IdempotencyError> {
        // Unconditional: whoever completes, the effect has happened, and a COMPLETED record only
        // ever makes later deliveries skip.
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(key.to_owned()))
            .item(STATUS, AttributeValue::S(RecordStatus::Completed.as_str().to_owned()))
            .item(COMPLETED_AT, number(completed_at_ms.div_euclid(1000)))
            .item(COMPLETED_AT_MS, number(completed_at_ms))
            .item(EXPIRES_AT, number(expires_at))
            .send()
            .await
            .map_err(|error| store_error("PutItem", error))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), IdempotencyError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.to_owned()))
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_values(":in_progress", AttributeValue::S(RecordStatus::InProgress.as_str().into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let error = error.into_service_error();
                // Already gone or COMPLETED: nothing to release.
                if error.is_conditional_check_failed_exception() {
                    Ok(())
                } else {
                    Err(store_error("DeleteItem", error))
                }
            }
        }
    }
}
