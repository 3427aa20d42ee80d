//! An in-memory inventory store (tests only: feature `testing`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{RejectOutcome, ReservationRequest, ReservationStatus, ReserveOutcome, Unavailable};
use crate::ports::{InventoryError, InventoryStore};

/// A reservation as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReservation {
    pub status: ReservationStatus,
    pub event_id: Uuid,
    pub items: Vec<(String, u32)>,
    pub reason: Option<String>,
    pub sku: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct State {
    /// sku -> (available, reserved)
    stock: HashMap<String, (i64, i64)>,
    reservations: HashMap<Uuid, StoredReservation>,
}

/// An in-memory [`InventoryStore`]; one lock makes each call atomic, like the transaction, and
/// a reservation is recorded once per order, like the conditional writes.
#[derive(Debug, Default)]
pub struct InMemoryInventoryStore {
    state: Mutex<State>,
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

    pub fn reservation(&self, order_id: Uuid) -> Option<StoredReservation> {
        self.lock().reservations.get(&order_id).cloned()
    }

    pub fn reservation_count(&self) -> usize {
        self.lock().reservations.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation below is completed before the guard drops, so a poisoned lock still
        // guards consistent data.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl InventoryStore for InMemoryInventoryStore {
    async fn reserve(&self, request: &ReservationRequest) -> Result<ReserveOutcome, InventoryError> {
        let mut state = self.lock();
        if let Some(existing) = state.reservations.get(&request.order_id) {
            return Ok(ReserveOutcome::AlreadyRecorded(existing.status));
        }
        for (sku, quantity) in &request.items {
            match state.stock.get(sku) {
                None => return Ok(ReserveOutcome::Unavailable(Unavailable::UnknownSku { sku: sku.clone() })),
                Some(&(available, _)) if available < i64::from(*quantity) => {
                    return Ok(ReserveOutcome::Unavailable(Unavailable::InsufficientStock {
                        sku: sku.clone(),
                        requested: *quantity,
                        available,
                    }));
                }
                Some(_) => {}
            }
        }
        for (sku, quantity) in &request.items {
            if let Some((available, reserved)) = state.stock.get_mut(sku) {
                *available -= i64::from(*quantity);
                *reserved += i64::from(*quantity);
            }
        }
        state.reservations.insert(
            request.order_id,
            StoredReservation {
                status: ReservationStatus::Reserved,
                event_id: request.event_id,
                items: request.items.clone(),
                reason: None,
                sku: None,
                created_at: request.created_at,
            },
        );
        Ok(ReserveOutcome::Reserved)
    }

    async fn record_rejection(
        &self,
        request: &ReservationRequest,
        unavailable: &Unavailable,
    ) -> Result<RejectOutcome, InventoryError> {
        let mut state = self.lock();
        if let Some(existing) = state.reservations.get(&request.order_id) {
            return Ok(RejectOutcome::AlreadyRecorded(existing.status));
        }
        state.reservations.insert(
            request.order_id,
            StoredReservation {
                status: ReservationStatus::Rejected,
                event_id: request.event_id,
                items: request.items.clone(),
                reason: Some(unavailable.reason().to_owned()),
                sku: Some(unavailable.sku().to_owned()),
                created_at: request.created_at,
            },
        );
        Ok(RejectOutcome::Recorded)
    }
}
