use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::order_placed::{InvalidEvent, OrderPlacedV1};
use crate::{
    OrderCancelledV1, OrderConfirmedV1, PaymentAuthorizedV1, PaymentDeclinedV1, StockRejectedV1, StockReservedV1,
};

/// The only CloudEvents version this contract speaks.
pub const CLOUDEVENTS_SPEC_VERSION: &str = "1.0";
/// `datacontenttype` of every event: the data is JSON.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// What an event's data type says about itself: its CloudEvents `type`, and the SNS message
/// attributes that subscription filter policies match on. A v2 is a new type implementing this
/// trait, published side by side with v1.
pub trait EventData {
    /// CloudEvents `type`, e.g. `orders.OrderPlaced.v1`.
    const CLOUDEVENTS_TYPE: &'static str;
    /// `event_type` SNS message attribute, e.g. `OrderPlaced`.
    const EVENT_TYPE: &'static str;
    /// `event_version` SNS message attribute, e.g. `1`.
    const EVENT_VERSION: &'static str;

    /// The CloudEvents `subject` this data requires (for orders: the order id).
    fn subject(&self) -> String;
}

/// `EventData` for an order event type: the constants come from the crate root, the subject is the
/// order id.
macro_rules! order_event_data {
    ($data:ty, $cloudevents_type:path, $event_type:path, $version:path) => {
        impl EventData for $data {
            const CLOUDEVENTS_TYPE: &'static str = $cloudevents_type;
            const EVENT_TYPE: &'static str = $event_type;
            const EVENT_VERSION: &'static str = $version;

            fn subject(&self) -> String {
                self.order_id().to_string()
            }
        }
    };
}

order_event_data!(
    OrderPlacedV1,
    crate::ORDER_PLACED_V1_TYPE,
    crate::ORDER_PLACED_EVENT_TYPE,
    crate::ORDER_PLACED_V1_VERSION
);
order_event_data!(
    StockReservedV1,
    crate::STOCK_RESERVED_V1_TYPE,
    crate::STOCK_RESERVED_EVENT_TYPE,
    crate::STOCK_RESERVED_V1_VERSION
);
order_event_data!(
    StockRejectedV1,
    crate::STOCK_REJECTED_V1_TYPE,
    crate::STOCK_REJECTED_EVENT_TYPE,
    crate::STOCK_REJECTED_V1_VERSION
);
order_event_data!(
    PaymentAuthorizedV1,
    crate::PAYMENT_AUTHORIZED_V1_TYPE,
    crate::PAYMENT_AUTHORIZED_EVENT_TYPE,
    crate::PAYMENT_AUTHORIZED_V1_VERSION
);
order_event_data!(
    PaymentDeclinedV1,
    crate::PAYMENT_DECLINED_V1_TYPE,
    crate::PAYMENT_DECLINED_EVENT_TYPE,
    crate::PAYMENT_DECLINED_V1_VERSION
);
order_event_data!(
    OrderConfirmedV1,
    crate::ORDER_CONFIRMED_V1_TYPE,
    crate::ORDER_CONFIRMED_EVENT_TYPE,
    crate::ORDER_CONFIRMED_V1_VERSION
);
order_event_data!(
    OrderCancelledV1,
    crate::ORDER_CANCELLED_V1_TYPE,
    crate::ORDER_CANCELLED_EVENT_TYPE,
    crate::ORDER_CANCELLED_V1_VERSION
);

/// A CloudEvents 1.0 envelope in JSON structured mode.
///
/// Built only through [`CloudEvent::new`] (or decoding), so `type`, `specversion`,
/// `datacontenttype` and `subject` always agree with the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
// The schema pins `type` to the data's CloudEvents type, so it needs `EventData` as well.
#[schemars(bound = "D: JsonSchema + EventData")]
pub struct CloudEvent<D> {
    /// CloudEvents version; only 1.0 is spoken.
    // `&'static str`: always one of our constants, so decoding does not allocate for it.
    #[schemars(extend("const" = CLOUDEVENTS_SPEC_VERSION))]
    specversion: &'static str,
    /// CloudEvents type: names the data schema and its major version.
    #[serde(rename = "type")]
    #[schemars(extend("const" = D::CLOUDEVENTS_TYPE))]
    event_type: &'static str,
    /// The producer: `order-api`, `inventory` or `billing`.
    source: String,
    /// Unique per event; a re-publish keeps it. Consumers de-duplicate on it.
    id: Uuid,
    /// When the event happened (RFC 3339, UTC).
    time: DateTime<Utc>,
    /// The order id.
    subject: String,
    /// Media type of `data`. Producers always send it; a decoder treats its absence as JSON, as
    /// the CloudEvents JSON format says.
    #[schemars(extend("const" = JSON_CONTENT_TYPE))]
    datacontenttype: &'static str,
    /// Correlation id carried from the API request (CloudEvents extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlationid: Option<String>,
    /// W3C trace context (CloudEvents distributed tracing extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
    /// The event data; its schema is named by `type`.
    data: D,
}

/// The OrderPlaced v1 event as it travels on the topic.
pub type OrderPlacedEvent = CloudEvent<OrderPlacedV1>;
pub type StockReservedEvent = CloudEvent<StockReservedV1>;
pub type StockRejectedEvent = CloudEvent<StockRejectedV1>;
pub type PaymentAuthorizedEvent = CloudEvent<PaymentAuthorizedV1>;
pub type PaymentDeclinedEvent = CloudEvent<PaymentDeclinedV1>;
pub type OrderConfirmedEvent = CloudEvent<OrderConfirmedV1>;
pub type OrderCancelledEvent = CloudEvent<OrderCancelledV1>;

impl<D: EventData> CloudEvent<D> {
    /// Wraps `data` in an envelope. `source` names the producer (see [`crate::ORDER_SERVICE_SOURCE`]).
    pub fn new(id: Uuid, source: impl Into<String>, time: DateTime<Utc>, data: D) -> Self {
        CloudEvent {
            specversion: CLOUDEVENTS_SPEC_VERSION,
            event_type: D::CLOUDEVENTS_TYPE,
            source: source.into(),
            id,
            time,
            subject: data.subject(),
            datacontenttype: JSON_CONTENT_TYPE,
            correlationid: None,
            traceparent: None,
            data,
        }
    }

    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlationid = Some(correlation_id.into());
        self
    }

    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// The SNS message attributes (`event_type`, `event_version`) for this event, all of
    /// SNS data type `String`. Filter policies match on these, so they come from here only.
    pub fn message_attributes(&self) -> [(&'static str, &'static str); 2] {
        [(crate::EVENT_TYPE_ATTRIBUTE, D::EVENT_TYPE), (crate::EVENT_VERSION_ATTRIBUTE, D::EVENT_VERSION)]
    }

    /// Reassembles an envelope read from the wire, checking that it agrees with its data.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        id: Uuid,
        source: String,
        time: DateTime<Utc>,
        subject: String,
        correlationid: Option<String>,
        traceparent: Option<String>,
        data: D,
    ) -> Result<Self, InvalidEvent> {
        let expected = data.subject();
        if subject != expected {
            return Err(InvalidEvent::SubjectMismatch { subject, expected });
        }
        // Built field by field rather than through `new`, which would compute the subject again.
        Ok(CloudEvent {
            specversion: CLOUDEVENTS_SPEC_VERSION,
            event_type: D::CLOUDEVENTS_TYPE,
            source,
            id,
            time,
            subject,
            datacontenttype: JSON_CONTENT_TYPE,
            correlationid,
            traceparent,
            data,
        })
    }
}

impl<D> CloudEvent<D> {
    pub fn id(&self) -> Uuid {
        self.id
    }
    pub fn event_type(&self) -> &str {
        self.event_type
    }
    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn time(&self) -> DateTime<Utc> {
        self.time
    }
    pub fn subject(&self) -> &str {
        &self.subject
    }
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlationid.as_deref()
    }
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }
    pub fn data(&self) -> &D {
        &self.data
    }
    pub fn into_data(self) -> D {
        self.data
    }
}

impl<D: Serialize> CloudEvent<D> {
    /// The message body to publish.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: no maps with non-string keys, no custom errors.
        serde_json::to_string(self).unwrap_or_default()
    }
}
