//! The DynamoDB adapter of the idempotency port (IdempotencyTable, key `pk`, TTL `expiresAt`).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use orderflow_kit::dynamodb::{ItemExt, RequestFailed, n as number};

use crate::idempotency::{BeginOutcome, Claim, CompleteOutcome, IdempotencyError, IdempotencyStore, RecordStatus};

const PK: &str = "pk";
const STATUS: &str = "status";
const IN_PROGRESS_UNTIL: &str = "inProgressUntil";
const IN_PROGRESS_UNTIL_MS: &str = "inProgressUntilMs";
const OWNER: &str = "owner";
const EXPIRES_AT: &str = "expiresAt";
const COMPLETED_AT: &str = "completedAt";
const COMPLETED_AT_MS: &str = "completedAtMs";

/// A claim is `{pk, status: IN_PROGRESS, owner, inProgressUntilMs, inProgressUntil, expiresAt}`:
/// the owner token, the end of the claim in epoch milliseconds, the same in whole seconds rounded
/// up (what records held before milliseconds, still read), the TTL in epoch seconds. A COMPLETED
/// record is `{pk, status, expiresAt}` plus `completedAt` (epoch seconds) and `completedAtMs` (epoch milliseconds),
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
    async fn begin(&self, claim: &Claim<'_>) -> Result<BeginOutcome, IdempotencyError> {
        // Two rounds at most: if the record we lost against is gone by the time we read it (its
        // owner released it), the claim is free again and one more write settles it.
        for _ in 0..2 {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, AttributeValue::S(claim.key.to_owned()))
                .item(STATUS, AttributeValue::S(RecordStatus::InProgress.as_str().to_owned()))
                .item(IN_PROGRESS_UNTIL_MS, number(claim.until_ms))
                // Whole seconds, rounded up, for a reader that knows only the old attribute.
                .item(IN_PROGRESS_UNTIL, number(claim.until_ms.div_euclid(1000) + 1))
                .item(OWNER, AttributeValue::S(claim.owner.to_owned()))
                .item(EXPIRES_AT, number(claim.expires_at))
                // A claim runs out at its millisecond; one written before milliseconds (only
                // `inProgressUntil`, seconds) runs out after that second, as it always did.
                .condition_expression(
                    "attribute_not_exists(#pk) OR (#status = :in_progress AND (#until_ms <= :now_ms \
                     OR (attribute_not_exists(#until_ms) AND #until < :now_s)))",
                )
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#status", STATUS)
                .expression_attribute_names("#until", IN_PROGRESS_UNTIL)
                .expression_attribute_names("#until_ms", IN_PROGRESS_UNTIL_MS)
                .expression_attribute_values(
                    ":in_progress",
                    AttributeValue::S(RecordStatus::InProgress.as_str().into()),
                )
                .expression_attribute_values(":now_ms", number(claim.now_ms))
                .expression_attribute_values(":now_s", number(claim.now_ms.div_euclid(1000)))
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
            match self.read_status(claim.key).await? {
                Some(RecordStatus::Completed) => return Ok(BeginOutcome::AlreadyCompleted),
                // Held by someone whose time has not run out (or ran out a moment ago: the
                // redelivery will take it over).
                Some(RecordStatus::InProgress) => return Ok(BeginOutcome::InProgressElsewhere),
                None => continue,
            }
        }
        Ok(BeginOutcome::InProgressElsewhere)
    }

    async fn complete(
        &self,
        key: &str,
        owner: &str,
        completed_at_ms: i64,
        expires_at: i64,
    ) -> Result<CompleteOutcome, IdempotencyError> {
        // Over our own claim, or over nothing (the claim vanished: the effect still happened).
        // Never over another owner's claim: that worker is applying the event again and
        // completes it itself, and never over a COMPLETED record, whose time is the first one.
        for _ in 0..2 {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, AttributeValue::S(key.to_owned()))
                .item(STATUS, AttributeValue::S(RecordStatus::Completed.as_str().to_owned()))
                .item(COMPLETED_AT, number(completed_at_ms.div_euclid(1000)))
                .item(COMPLETED_AT_MS, number(completed_at_ms))
                .item(EXPIRES_AT, number(expires_at))
                .condition_expression("attribute_not_exists(#pk) OR (#status = :in_progress AND #owner = :owner)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#status", STATUS)
                .expression_attribute_names("#owner", OWNER)
                .expression_attribute_values(
                    ":in_progress",
                    AttributeValue::S(RecordStatus::InProgress.as_str().into()),
                )
                .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(CompleteOutcome::Completed),
                Err(error) => {
                    let error = error.into_service_error();
                    if !error.is_conditional_check_failed_exception() {
                        return Err(store_error("PutItem", error));
                    }
                }
            }
            match self.read_status(key).await? {
                Some(RecordStatus::Completed) => return Ok(CompleteOutcome::AlreadyCompleted),
                Some(RecordStatus::InProgress) => return Ok(CompleteOutcome::HeldByOther),
                None => continue,
            }
        }
        Ok(CompleteOutcome::HeldByOther)
    }

    async fn release(&self, key: &str, owner: &str) -> Result<bool, IdempotencyError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.to_owned()))
            .condition_expression("#status = :in_progress AND #owner = :owner")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_values(":in_progress", AttributeValue::S(RecordStatus::InProgress.as_str().into()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => {
                let error = error.into_service_error();
                // Gone, COMPLETED or someone else's: nothing of ours to release.
                if error.is_conditional_check_failed_exception() {
                    Ok(false)
                } else {
                    Err(store_error("DeleteItem", error))
                }
            }
        }
    }
}
