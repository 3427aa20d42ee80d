use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::envelope::{
    CLOUDEVENTS_SPEC_VERSION, CloudEvent, EventData, JSON_CONTENT_TYPE, OrderCancelledEvent, OrderConfirmedEvent,
    OrderPlacedEvent, PaymentAuthorizedEvent, PaymentDeclinedEvent, StockRejectedEvent, StockReservedEvent,
};
use crate::order_placed::InvalidEvent;
use crate::time::Rfc3339;

/// An event this crate knows how to decode. Match on it, and keep a `_` arm: new types and
/// versions are added as variants.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderEvent {
    OrderPlacedV1(OrderPlacedEvent),
    StockReservedV1(StockReservedEvent),
    StockRejectedV1(StockRejectedEvent),
    PaymentAuthorizedV1(PaymentAuthorizedEvent),
    PaymentDeclinedV1(PaymentDeclinedEvent),
    OrderConfirmedV1(OrderConfirmedEvent),
    OrderCancelledV1(OrderCancelledEvent),
}

/// Runs `$body` with `$event` bound to the envelope inside any variant.
macro_rules! each_event {
    ($value:expr, $event:ident => $body:expr) => {
        match $value {
            OrderEvent::OrderPlacedV1($event) => $body,
            OrderEvent::StockReservedV1($event) => $body,
            OrderEvent::StockRejectedV1($event) => $body,
            OrderEvent::PaymentAuthorizedV1($event) => $body,
            OrderEvent::PaymentDeclinedV1($event) => $body,
            OrderEvent::OrderConfirmedV1($event) => $body,
            OrderEvent::OrderCancelledV1($event) => $body,
        }
    };
}

impl OrderEvent {
    /// The event id consumers de-duplicate on.
    pub fn id(&self) -> Uuid {
        each_event!(self, event => event.id())
    }

    /// The order the event is about (every event's `subject`, checked against `data.orderId`).
    pub fn order_id(&self) -> Uuid {
        each_event!(self, event => event.data().order_id())
    }

    pub fn correlation_id(&self) -> Option<&str> {
        each_event!(self, event => event.correlation_id())
    }

    pub fn traceparent(&self) -> Option<&str> {
        each_event!(self, event => event.traceparent())
    }

    /// When the event happened, for event-age metrics.
    pub fn time(&self) -> DateTime<Utc> {
        each_event!(self, event => event.time())
    }

    /// The CloudEvents `type`, e.g. `orders.OrderPlaced.v1`.
    pub fn event_type(&self) -> &str {
        each_event!(self, event => event.event_type())
    }

    /// The producer (`source`).
    pub fn source(&self) -> &str {
        each_event!(self, event => event.source())
    }

    /// The message body, as a producer publishes it.
    pub fn to_json(&self) -> String {
        each_event!(self, event => event.to_json())
    }
}

/// How the body reached the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The CloudEvent itself (SNS raw message delivery, or a direct send).
    Raw,
    /// Wrapped in an SNS notification envelope (`"Type": "Notification"`, the event in `Message`).
    SnsNotification,
}

/// A stable, low-cardinality name for each way a message can fail to decode: for logs, metrics
/// and alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeErrorKind {
    NotJson,
    NotAnEnvelope,
    UnsupportedSpecVersion,
    UnknownEventType,
    InvalidData,
}

impl DecodeErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeErrorKind::NotJson => "not_json",
            DecodeErrorKind::NotAnEnvelope => "not_an_envelope",
            DecodeErrorKind::UnsupportedSpecVersion => "unsupported_specversion",
            DecodeErrorKind::UnknownEventType => "unknown_event_type",
            DecodeErrorKind::InvalidData => "invalid_data",
        }
    }
}

/// Why a message body is not an event this crate accepts. None of these get better on retry:
/// a consumer reports the message failed and it reaches the DLQ after `maxReceiveCount`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message body is not JSON: {0}")]
    NotJson(String),
    #[error("message body is not a CloudEvent or an SNS notification: {0}")]
    NotAnEnvelope(String),
    #[error("CloudEvents specversion {0:?} is not supported (expected \"1.0\")")]
    UnsupportedSpecVersion(String),
    #[error("event type {0:?} is not known to this consumer")]
    UnknownEventType(String),
    #[error("event data is malformed: {0}")]
    MalformedData(String),
    #[error("event data breaks the contract: {0}")]
    InvalidData(#[from] InvalidEvent),
}

impl DecodeError {
    pub fn kind(&self) -> DecodeErrorKind {
        match self {
            DecodeError::NotJson(_) => DecodeErrorKind::NotJson,
            DecodeError::NotAnEnvelope(_) => DecodeErrorKind::NotAnEnvelope,
            DecodeError::UnsupportedSpecVersion(_) => DecodeErrorKind::UnsupportedSpecVersion,
            DecodeError::UnknownEventType(_) => DecodeErrorKind::UnknownEventType,
            DecodeError::MalformedData(_) | DecodeError::InvalidData(_) => DecodeErrorKind::InvalidData,
        }
    }
}

/// Everything a message body might be, read in one pass: the CloudEvent attributes and the SNS
/// notification fields side by side (their names do not collide: `Type` vs `type`). `data` stays
/// raw until the type is known, so only one parse of the body happens.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "Type", borrow, default)]
    sns_type: Option<Cow<'a, str>>,
    #[serde(rename = "Message", borrow, default)]
    sns_message: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    specversion: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    id: Option<Uuid>,
    #[serde(default)]
    time: Option<Rfc3339>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    correlationid: Option<String>,
    #[serde(default)]
    traceparent: Option<String>,
    #[serde(borrow, default)]
    datacontenttype: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// Decodes a consumer's message body: a CloudEvent delivered raw, or the same wrapped in an SNS
/// notification envelope. Unknown fields are ignored; the data's invariants are checked.
pub fn decode_message(body: &str) -> Result<(OrderEvent, Delivery), DecodeError> {
    let mut probe = parse_probe(body)?;
    match probe.sns_type.as_deref() {
        Some("Notification") => {
            let message = probe
                .sns_message
                .take()
                .ok_or_else(|| DecodeError::NotAnEnvelope("SNS notification without a Message".into()))?;
            let inner = parse_probe(&message)?;
            if inner.sns_type.is_some() {
                return Err(DecodeError::NotAnEnvelope("an SNS notification inside an SNS notification".into()));
            }
            Ok((decode_cloud_event(inner)?, Delivery::SnsNotification))
        }
        Some(other) if probe.specversion.is_none() => {
            Err(DecodeError::NotAnEnvelope(format!("SNS message of Type {other:?} carries no event")))
        }
        _ => Ok((decode_cloud_event(probe)?, Delivery::Raw)),
    }
}

fn parse_probe(body: &str) -> Result<Probe<'_>, DecodeError> {
    serde_json::from_str(body).map_err(|error| match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            DecodeError::NotJson(error.to_string())
        }
        _ => DecodeError::NotAnEnvelope(error.to_string()),
    })
}

fn decode_cloud_event(probe: Probe<'_>) -> Result<OrderEvent, DecodeError> {
    let specversion = probe.specversion.ok_or_else(|| missing("specversion"))?;
    if specversion != CLOUDEVENTS_SPEC_VERSION {
        return Err(DecodeError::UnsupportedSpecVersion(specversion.into_owned()));
    }
    let event_type = probe.event_type.ok_or_else(|| missing("type"))?;
    let source = probe.source.ok_or_else(|| missing("source"))?;
    let id = probe.id.ok_or_else(|| missing("id"))?;
    let Rfc3339(time) = probe.time.ok_or_else(|| missing("time"))?;
    let subject = probe.subject.ok_or_else(|| missing("subject"))?;
    let data = probe.data.ok_or_else(|| missing("data"))?;
    // Absent means JSON (CloudEvents JSON format, section 3.1); anything else contradicts the inline
    // JSON `data` and would mean the producer is not following this contract.
    if let Some(content_type) = probe.datacontenttype
        && !is_json_media_type(&content_type)
    {
        return Err(DecodeError::NotAnEnvelope(format!(
            "datacontenttype {content_type:?} is not {JSON_CONTENT_TYPE:?}"
        )));
    }
    let envelope =
        Envelope { id, source, time, subject, correlationid: probe.correlationid, traceparent: probe.traceparent };
    match event_type.as_ref() {
        crate::ORDER_PLACED_V1_TYPE => envelope.with(data).map(OrderEvent::OrderPlacedV1),
        crate::STOCK_RESERVED_V1_TYPE => envelope.with(data).map(OrderEvent::StockReservedV1),
        crate::STOCK_REJECTED_V1_TYPE => envelope.with(data).map(OrderEvent::StockRejectedV1),
        crate::PAYMENT_AUTHORIZED_V1_TYPE => envelope.with(data).map(OrderEvent::PaymentAuthorizedV1),
        crate::PAYMENT_DECLINED_V1_TYPE => envelope.with(data).map(OrderEvent::PaymentDeclinedV1),
        crate::ORDER_CONFIRMED_V1_TYPE => envelope.with(data).map(OrderEvent::OrderConfirmedV1),
        crate::ORDER_CANCELLED_V1_TYPE => envelope.with(data).map(OrderEvent::OrderCancelledV1),
        _ => Err(DecodeError::UnknownEventType(event_type.into_owned())),
    }
}

/// The CloudEvents attributes read from the wire, waiting for their data's type.
struct Envelope {
    id: Uuid,
    source: String,
    time: DateTime<Utc>,
    subject: String,
    correlationid: Option<String>,
    traceparent: Option<String>,
}

impl Envelope {
    /// Decodes `data` as `D` (checking its invariants) and checks the envelope against it.
    fn with<D: EventData + serde::de::DeserializeOwned>(self, data: &RawValue) -> Result<CloudEvent<D>, DecodeError> {
        let data: D = serde_json::from_str(data.get()).map_err(data_error)?;
        Ok(CloudEvent::from_parts(
            self.id,
            self.source,
            self.time,
            self.subject,
            self.correlationid,
            self.traceparent,
            data,
        )?)
    }
}

/// `application/json`, ignoring case and parameters such as `; charset=utf-8`.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(JSON_CONTENT_TYPE)
}

fn missing(attribute: &str) -> DecodeError {
    DecodeError::NotAnEnvelope(format!("missing CloudEvents attribute `{attribute}`"))
}

/// serde reports a broken invariant (our `TryFrom`) as a custom error; keep its message, which
/// names the offending field.
fn data_error(error: serde_json::Error) -> DecodeError {
    DecodeError::MalformedData(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT_EXAMPLE: &str = include_str!("../fixtures/valid/contract-example.json");

    #[test]
    fn decodes_the_contract_example_raw_and_sns_wrapped() {
        let (event, delivery) = decode_message(CONTRACT_EXAMPLE).unwrap();
        assert_eq!(delivery, Delivery::Raw);
        assert_eq!(event.id().to_string(), "0193a5d2-7c1e-7b3a-9f00-1a2b3c4d5e6f");
        assert_eq!(event.correlation_id(), Some("req-7f3c2a"));
        let OrderEvent::OrderPlacedV1(placed) = &event else { panic!("not an OrderPlaced: {event:?}") };
        assert_eq!(placed.data().total().amount, 3998);

        let wrapped = serde_json::json!({
            "Type": "Notification",
            "MessageId": "abc",
            "TopicArn": "arn:aws:sns:us-east-1:000000000000:orders",
            "Message": CONTRACT_EXAMPLE,
        })
        .to_string();
        let (again, delivery) = decode_message(&wrapped).unwrap();
        assert_eq!(delivery, Delivery::SnsNotification);
        assert_eq!(again, event);
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let (event, _) = decode_message(CONTRACT_EXAMPLE).unwrap();
        let (again, _) = decode_message(&event.to_json()).unwrap();
        assert_eq!(again, event);
    }

    #[test]
    fn errors_name_their_kind() {
        let cases = [
            ("{", DecodeErrorKind::NotJson),
            ("[1,2]", DecodeErrorKind::NotAnEnvelope),
            ("{}", DecodeErrorKind::NotAnEnvelope),
            (r#"{"Type":"SubscriptionConfirmation"}"#, DecodeErrorKind::NotAnEnvelope),
        ];
        for (body, kind) in cases {
            assert_eq!(decode_message(body).unwrap_err().kind(), kind, "{body}");
        }
        let v2 = CONTRACT_EXAMPLE.replace("orders.OrderPlaced.v1", "orders.OrderPlaced.v2");
        assert_eq!(decode_message(&v2).unwrap_err().kind(), DecodeErrorKind::UnknownEventType);
        let bad_total = CONTRACT_EXAMPLE.replace("3998", "3999");
        assert_eq!(decode_message(&bad_total).unwrap_err().kind(), DecodeErrorKind::InvalidData);
    }
}
