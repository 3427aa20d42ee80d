//! What loyalty needs from the outside world: the points table.

use async_trait::async_trait;
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};

use crate::domain::{Account, AddOutcome, Award};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("points ledger request failed: {0}")]
    Store(#[from] RequestFailed),
    /// A stored account without the expected shape, where its content matters.
    #[error("stored loyalty account is malformed: {0}")]
    Malformed(#[from] MalformedItem),
}

/// The points port: LoyaltyPoints, one account per customer.
#[async_trait]
pub trait PointsLedger: Send + Sync {
    /// The customer's account, if they have earned anything yet.
    async fn find(&self, customer_id: &str) -> Result<Option<Account>, LedgerError>;
    /// Adds the award's points and one order to the customer's account (creating it). An add is
    /// not idempotent: the caller runs it once per event, under the consumer core's idempotency
    /// claim. The ledger only refuses the award of the event it applied last, which covers the
    /// one retry the claim cannot: the add succeeded, the completion of the claim did not.
    async fn add(&self, award: &Award) -> Result<AddOutcome, LedgerError>;
}
