//! An in-memory shipments store (tests only: feature `testing`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{CreateOutcome, Shipment};
use crate::ports::{ShipmentsError, ShipmentsStore};

/// An in-memory [`ShipmentsStore`] with the conditional-put semantics of the DynamoDB one.
#[derive(Debug, Default)]
pub struct InMemoryShipmentsStore {
    shipments: Mutex<HashMap<Uuid, Shipment>>,
}

impl InMemoryShipmentsStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, order_id: Uuid) -> Option<Shipment> {
        self.lock().get(&order_id).cloned()
    }

    pub fn all(&self) -> Vec<Shipment> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Shipment>> {
        // A panicking test thread must not hide the shipments from the other assertions.
        self.shipments.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ShipmentsStore for InMemoryShipmentsStore {
    async fn find(&self, order_id: Uuid) -> Result<Option<Shipment>, ShipmentsError> {
        Ok(self.get(order_id))
    }

    async fn create(&self, shipment: &Shipment) -> Result<CreateOutcome, ShipmentsError> {
        let mut shipments = self.lock();
        if shipments.contains_key(&shipment.order_id) {
            return Ok(CreateOutcome::AlreadyExists);
        }
        shipments.insert(shipment.order_id, shipment.clone());
        Ok(CreateOutcome::Created)
    }
}
