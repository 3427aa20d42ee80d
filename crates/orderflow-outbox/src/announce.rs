//! What a producer does right after the transaction that wrote its outbox entry commits.

use std::sync::Arc;

use orderflow_kit::Clock;
use orderflow_observability::ErrorChain;
use tracing::{info, warn};

use crate::entry::OutboxEntry;
use crate::ports::{EventPublisher, OutboxStore};

/// Publishes committed outbox entries straight away and marks them published, so the usual
/// path costs no relay delay. It never fails: a failed publish (or a failed mark) only leaves
/// the entry pending, and the [`crate::Relay`] publishes it after its grace period with the same
/// event id. Every producer (the order API, the lifecycle, inventory, billing) uses this one.
#[derive(Clone)]
pub struct Announcer {
    outbox: Arc<dyn OutboxStore>,
    publisher: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

/// How an announcement went; for logs and tests, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announced {
    /// Published and taken off the pending index.
    Published { message_id: String },
    /// Published, but still pending: the relay will publish it again (consumers de-duplicate).
    PublishedStillPending { message_id: String },
    /// Not published: the relay will.
    LeftForRelay,
}

impl Announcer {
    pub fn new(outbox: Arc<dyn OutboxStore>, publisher: Arc<dyn EventPublisher>, clock: Arc<dyn Clock>) -> Self {
        Announcer { outbox, publisher, clock }
    }

    /// Publishes `entry` (already committed) and marks it published.
    pub async fn announce(&self, entry: &OutboxEntry) -> Announced {
        match self.publisher.publish(entry).await {
            Ok(message_id) => {
                info!(event_id = %entry.event_id, event_type = entry.event_type, message_id, "event published");
                match self.outbox.mark_published(entry.event_id, self.clock.now()).await {
                    Ok(()) => Announced::Published { message_id },
                    Err(error) => {
                        warn!(event_id = %entry.event_id, error = %ErrorChain(&error), "event published but the outbox entry stays pending");
                        Announced::PublishedStillPending { message_id }
                    }
                }
            }
            Err(error) => {
                warn!(event_id = %entry.event_id, error = %ErrorChain(&error), "publish failed; the outbox relay will publish the event");
                Announced::LeftForRelay
            }
        }
    }
}
