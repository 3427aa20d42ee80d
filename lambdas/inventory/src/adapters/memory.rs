//! An in-memory inventory store (tests only: feature `testing`), with the DynamoDB adapter's
//! semantics: one lock makes each step atomic like the transaction, the record's expectation
//! is checked like its condition, and outbox entries land in an [`InMemoryOutbox`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use orderflow_outbox::adapters::memory::InMemoryOutbox;
use uuid::Uuid;

use crate::domain::{Applied, Reservation, Step, StockEffect, Unavailable};
use crate::ports::{InventoryError, InventoryStore};

#[derive(Debug, Default)]
struct State {
    /// sku -> (available, reserved)
    stock: HashMap<String, (i64, i64)>,
    reservations: HashMap<Uuid, Reservation>,
    steps: usize,
}

/// An in-memory [`InventoryStore`].
#[derive(Default)]
pub struct InMemoryInventoryStore {
    state: Mutex<State>,
    outbox: Arc<InMemoryOutbox>,
}

impl InMemoryInventoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_stock(self, sku: &str, available: i64) -> Self {
        self.set_available(sku, available);
        self
    }

    /// Sets a SKU's available units (a restock), keeping what is reserved.
    pub fn set_available(&self, sku: &str, available: i64) {
        self.lock().stock.entry(sku.to_owned()).or_insert((0, 0)).0 = available;
    }

    /// `(available, reserved)` of a SKU.
    pub fn stock(&self, sku: &str) -> Option<(i64, i64)> {
        self.lock().stock.get(sku).copied()
    }

    /// Every SKU's `(available, reserved)`.
    pub fn all_stock(&self) -> HashMap<String, (i64, i64)> {
        self.lock().stock.clone()
    }

    pub fn reservation_record(&self, order_id: Uuid) -> Option<Reservation> {
        self.lock().reservations.get(&order_id).cloned()
    }

    pub fn reservation_count(&self) -> usize {
        self.lock().reservations.len()
    }

    /// Steps applied so far (for tests that fail one of them).
    pub fn applied_steps(&self) -> usize {
        self.lock().steps
    }

    /// The outbox the steps write to: hand it to the handler's announcer.
    pub fn outbox(&self) -> Arc<InMemoryOutbox> {
        Arc::clone(&self.outbox)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation below is completed before the guard drops, so a poisoned lock still
        // guards consistent data.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The first line whose condition fails, or `Ok(None)`. For Hold a failure is a business
/// outcome; for Commit and Release it is a broken invariant (the units were held by this
/// record), reported like the DynamoDB adapter does: as contention, retried, then the DLQ.
fn check_stock(
    stock: &HashMap<String, (i64, i64)>,
    effect: StockEffect,
    lines: &[(String, u32)],
) -> Result<Option<Unavailable>, InventoryError> {
    for (sku, requested) in lines {
        let quantity = i64::from(*requested);
        match (effect, stock.get(sku)) {
            (StockEffect::Hold, None) => return Ok(Some(Unavailable::UnknownSku { sku: sku.clone() })),
            (StockEffect::Hold, Some(&(available, _))) if available < quantity => {
                return Ok(Some(Unavailable::OutOfStock { sku: sku.clone(), requested: *requested, available }));
            }
            (StockEffect::Commit | StockEffect::Release, None) => {
                return Err(InventoryError::Contention(format!("stock of {sku} vanished")));
            }
            (StockEffect::Commit | StockEffect::Release, Some(&(_, reserved))) if reserved < quantity => {
                return Err(InventoryError::Contention(format!("{sku} has fewer units reserved than held")));
            }
            _ => {}
        }
    }
    Ok(None)
}

#[async_trait]
impl InventoryStore for InMemoryInventoryStore {
    async fn reservation(&self, order_id: Uuid) -> Result<Option<Reservation>, InventoryError> {
        Ok(self.lock().reservations.get(&order_id).cloned())
    }

    async fn apply(&self, step: &Step) -> Result<Applied, InventoryError> {
        let mut state = self.lock();
        let current = state.reservations.get(&step.record.order_id);
        if !step.expect.matches(current) {
            return Ok(Applied::Conflict(current.cloned()));
        }
        if let Some(change) = &step.stock {
            if let Some(unavailable) = check_stock(&state.stock, change.effect, &change.lines)? {
                return Ok(Applied::Unavailable(unavailable));
            }
            for (sku, quantity) in &change.lines {
                let quantity = i64::from(*quantity);
                if let Some((available, reserved)) = state.stock.get_mut(sku) {
                    match change.effect {
                        StockEffect::Hold => {
                            *available -= quantity;
                            *reserved += quantity;
                        }
                        StockEffect::Commit => *reserved -= quantity,
                        StockEffect::Release => {
                            *available += quantity;
                            *reserved -= quantity;
                        }
                    }
                }
            }
        }
        // Fresh event ids never collide, like the outbox put's condition in the transaction.
        if let Some(entry) = &step.outbox {
            self.outbox.insert_pending(entry);
        }
        state.reservations.insert(step.record.order_id, step.record.clone());
        state.steps += 1;
        Ok(Applied::Done)
    }
}
