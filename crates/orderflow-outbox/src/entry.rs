//! An event waiting to be published.

use chrono::{DateTime, TimeDelta, Utc};
use orderflow_events::{CloudEvent, EVENT_TYPE_ATTRIBUTE, EVENT_VERSION_ATTRIBUTE, EventData};
use serde::Serialize;
use uuid::Uuid;

/// How long a published entry is kept (for audits) before TTL deletes it.
pub const PUBLISHED_OUTBOX_TTL: TimeDelta = TimeDelta::days(7);

/// An event in OutboxTable: the exact body and attributes, so a re-publish by the relay is
/// byte-for-byte the same message with the same event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub event_id: Uuid,
    /// The CloudEvents `subject`: the order id, for every event of this system.
    pub subject: String,
    pub created_at: DateTime<Utc>,
    /// The CloudEvent JSON, published unchanged.
    pub body: String,
    /// `event_type` SNS message attribute value (`OrderPlaced`).
    pub event_type: String,
    /// `event_version` SNS message attribute value (`1`).
    pub event_version: String,
    pub correlation_id: Option<String>,
}

impl OutboxEntry {
    /// The entry for `event`, created at `created_at` (the producer's clock).
    pub fn for_event<D: EventData + Serialize>(event: &CloudEvent<D>, created_at: DateTime<Utc>) -> Self {
        OutboxEntry {
            event_id: event.id(),
            subject: event.subject().to_owned(),
            created_at,
            body: event.to_json(),
            event_type: D::EVENT_TYPE.to_owned(),
            event_version: D::EVENT_VERSION.to_owned(),
            correlation_id: event.correlation_id().map(str::to_owned),
        }
    }

    /// The SNS message attributes (all of data type String) subscription filters match on.
    pub fn message_attributes(&self) -> [(&'static str, &str); 2] {
        [(EVENT_TYPE_ATTRIBUTE, self.event_type.as_str()), (EVENT_VERSION_ATTRIBUTE, self.event_version.as_str())]
    }
}
