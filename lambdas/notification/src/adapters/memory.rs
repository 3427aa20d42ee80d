//! An in-memory email sender and notifications store (tests only: feature `testing`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::NotificationRecord;
use crate::domain::render::Email;
use crate::ports::{EmailSender, NotificationsError, NotificationsStore, SendError};

/// An [`EmailSender`] that keeps what it "sends".
#[derive(Debug, Default)]
pub struct InMemoryEmailSender {
    sent: Mutex<Vec<Email>>,
}

impl InMemoryEmailSender {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl EmailSender for InMemoryEmailSender {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        sent.push(email.clone());
        Ok(format!("in-memory-{}", sent.len()))
    }
}

/// An in-memory [`NotificationsStore`] with the conditional-put semantics of the DynamoDB one.
#[derive(Debug, Default)]
pub struct InMemoryNotificationsStore {
    records: Mutex<HashMap<Uuid, NotificationRecord>>,
}

impl InMemoryNotificationsStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, order_id: Uuid) -> Option<NotificationRecord> {
        self.lock().get(&order_id).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, NotificationRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl NotificationsStore for InMemoryNotificationsStore {
    async fn exists(&self, order_id: Uuid) -> Result<bool, NotificationsError> {
        Ok(self.lock().contains_key(&order_id))
    }

    async fn record_sent(&self, record: &NotificationRecord) -> Result<bool, NotificationsError> {
        let mut records = self.lock();
        if records.contains_key(&record.order_id) {
            return Ok(false);
        }
        records.insert(record.order_id, record.clone());
        Ok(true)
    }
}
