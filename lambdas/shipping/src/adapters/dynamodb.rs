//! The DynamoDB adapter of the shipments port. ShipmentsTable items: `{orderId, status (READY),
//! items: [{sku, quantity}], shippingAddress?: {line1, line2?, city, postalCode, country},
//! createdAt, eventId, correlationId?}`. The end-to-end tests read these names: keep them.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use orderflow_events::ShippingAddress;
use orderflow_kit::dynamodb::{
    Item, ItemExt, MalformedItem, PutIfAbsentError, PutOutcome, RequestFailed, n, put_if_absent, s, timestamp,
};
use uuid::Uuid;

use crate::domain::{CreateOutcome, Shipment, ShipmentLine, ShipmentStatus};
use crate::ports::{ShipmentsError, ShipmentsStore};

/// The table's key.
const ORDER_ID: &str = "orderId";

#[derive(Debug, Clone)]
pub struct DynamoDbShipmentsStore {
    client: Client,
    table: String,
}

impl DynamoDbShipmentsStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbShipmentsStore { client, table: table.into() }
    }
}

fn line_to_attribute(line: &ShipmentLine) -> AttributeValue {
    AttributeValue::M(Item::from([("sku".to_owned(), s(&line.sku)), ("quantity".to_owned(), n(line.quantity))]))
}

fn address_to_attribute(address: &ShippingAddress) -> AttributeValue {
    let mut map = Item::from([
        ("line1".to_owned(), s(address.line1())),
        ("city".to_owned(), s(address.city())),
        ("postalCode".to_owned(), s(address.postal_code())),
        ("country".to_owned(), s(address.country())),
    ]);
    // Absent rather than empty: the contract's line2 is 1-100 characters when present.
    if let Some(line2) = address.line2() {
        map.insert("line2".to_owned(), s(line2));
    }
    AttributeValue::M(map)
}

fn to_item(shipment: &Shipment) -> Item {
    let mut item = Item::from([
        (ORDER_ID.to_owned(), s(shipment.order_id.to_string())),
        ("status".to_owned(), s(shipment.status.as_str())),
        ("items".to_owned(), AttributeValue::L(shipment.items.iter().map(line_to_attribute).collect())),
        ("createdAt".to_owned(), timestamp(shipment.created_at)),
        ("eventId".to_owned(), s(shipment.event_id.to_string())),
    ]);
    if let Some(address) = &shipment.shipping_address {
        item.insert("shippingAddress".to_owned(), address_to_attribute(address));
    }
    if let Some(correlation_id) = &shipment.correlation_id {
        item.insert("correlationId".to_owned(), s(correlation_id));
    }
    item
}

fn line_from_attribute(value: &AttributeValue) -> Result<ShipmentLine, MalformedItem> {
    let AttributeValue::M(map) = value else {
        return Err(MalformedItem::new("items", "has an entry that is not a map"));
    };
    Ok(ShipmentLine { sku: map.string("sku")?.to_owned(), quantity: map.number("quantity")? })
}

fn address_from_attribute(value: &AttributeValue) -> Result<ShippingAddress, MalformedItem> {
    let AttributeValue::M(map) = value else {
        return Err(MalformedItem::new("shippingAddress", "is not a map"));
    };
    ShippingAddress::new(
        map.string("line1")?,
        map.optional_string("line2").map(str::to_owned),
        map.string("city")?,
        map.string("postalCode")?,
        map.string("country")?,
    )
    .map_err(|error| MalformedItem::new("shippingAddress", error.to_string()))
}

fn from_item(item: &Item) -> Result<Shipment, MalformedItem> {
    let status = item.string("status")?;
    let status =
        ShipmentStatus::parse(status).ok_or_else(|| MalformedItem::new("status", format!("{status:?} is unknown")))?;
    let items = match item.get("items") {
        Some(AttributeValue::L(lines)) => lines.iter().map(line_from_attribute).collect::<Result<_, _>>()?,
        Some(_) => return Err(MalformedItem::new("items", "is not a list")),
        None => return Err(MalformedItem::new("items", "is missing")),
    };
    Ok(Shipment {
        order_id: item.parsed(ORDER_ID)?,
        status,
        items,
        shipping_address: item.get("shippingAddress").map(address_from_attribute).transpose()?,
        created_at: item.time("createdAt")?,
        event_id: item.parsed("eventId")?,
        correlation_id: item.optional_string("correlationId").map(str::to_owned),
    })
}

/// The port's view of a failed conditional write. No `_` arm: a new way for the kit's write to
/// fail must be given a meaning here.
fn create_error(error: PutIfAbsentError, order_id: Uuid) -> ShipmentsError {
    match error {
        PutIfAbsentError::Request(failed) => ShipmentsError::Store(failed),
        PutIfAbsentError::Vanished { .. } => ShipmentsError::Vanished { order_id },
    }
}

#[async_trait]
impl ShipmentsStore for DynamoDbShipmentsStore {
    async fn find(&self, order_id: Uuid) -> Result<Option<Shipment>, ShipmentsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ORDER_ID, s(order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| RequestFailed::new("GetItem", error))?;
        Ok(output.item().map(from_item).transpose()?)
    }

    /// Any item under the order's key is its shipment: it is not read, so even a malformed one
    /// keeps the order from a second shipment instead of sending the message to the DLQ.
    async fn create(&self, shipment: &Shipment) -> Result<CreateOutcome, ShipmentsError> {
        match put_if_absent(&self.client, &self.table, ORDER_ID, to_item(shipment)).await {
            Ok(PutOutcome::Written) => Ok(CreateOutcome::Created),
            Ok(PutOutcome::Exists(_)) => Ok(CreateOutcome::AlreadyExists),
            Err(error) => Err(create_error(error, shipment.order_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn shipment(address: bool) -> Shipment {
        Shipment {
            order_id: Uuid::now_v7(),
            status: ShipmentStatus::Ready,
            items: vec![
                ShipmentLine { sku: "BOOK-0001".into(), quantity: 2 },
                ShipmentLine { sku: "MUG-0002".into(), quantity: 1 },
            ],
            shipping_address: address
                .then(|| ShippingAddress::new("1 Main St", Some("Flat 2".into()), "Leeds", "LS1 4AP", "GB").unwrap()),
            created_at: DateTime::from_timestamp_millis(1_795_458_600_123).unwrap(),
            event_id: Uuid::now_v7(),
            correlation_id: Some("req-1".into()),
        }
    }

    #[test]
    fn items_round_trip_with_their_attribute_names() {
        let shipment = shipment(true);
        let item = to_item(&shipment);
        let mut names: Vec<_> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["correlationId", "createdAt", "eventId", "items", "orderId", "shippingAddress", "status"]);
        assert_eq!(item["status"], s("READY"));
        assert_eq!(item["orderId"], s(shipment.order_id.to_string()));
        assert_eq!(item["createdAt"], s("2026-11-23T18:30:00.123Z"));
        let AttributeValue::L(lines) = &item["items"] else { panic!("items is a list") };
        assert_eq!(
            lines[0],
            AttributeValue::M(Item::from([("sku".into(), s("BOOK-0001")), ("quantity".into(), n(2))]))
        );
        let AttributeValue::M(address) = &item["shippingAddress"] else { panic!("the address is a map") };
        let mut fields: Vec<_> = address.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["city", "country", "line1", "line2", "postalCode"]);
        assert_eq!(from_item(&item).unwrap(), shipment);
    }

    #[test]
    fn optional_attributes_are_absent_not_empty() {
        let mut shipment = shipment(false);
        shipment.correlation_id = None;
        let item = to_item(&shipment);
        assert!(!item.contains_key("shippingAddress") && !item.contains_key("correlationId"));
        assert_eq!(from_item(&item).unwrap(), shipment);
        let mut no_line2 = self::shipment(true);
        no_line2.shipping_address = Some(ShippingAddress::new("1 Main St", None, "Leeds", "LS1 4AP", "GB").unwrap());
        let item = to_item(&no_line2);
        let AttributeValue::M(address) = &item["shippingAddress"] else { panic!("the address is a map") };
        assert!(!address.contains_key("line2"));
        assert_eq!(from_item(&item).unwrap(), no_line2);
    }

    #[test]
    fn a_malformed_item_names_its_attribute() {
        let mut item = to_item(&shipment(true));
        item.insert("status".to_owned(), s("LOST"));
        assert_eq!(from_item(&item).unwrap_err().attribute, "status");
        item.insert("status".to_owned(), s("READY"));
        item.insert("items".to_owned(), s("BOOK-0001"));
        assert_eq!(from_item(&item).unwrap_err(), MalformedItem::new("items", "is not a list"));
        item.remove("items");
        assert_eq!(from_item(&item).unwrap_err(), MalformedItem::new("items", "is missing"));
    }

    #[test]
    fn a_vanished_winner_is_the_ports_vanished_shipment() {
        let order_id = Uuid::now_v7();
        let vanished = create_error(PutIfAbsentError::Vanished { key: order_id.to_string() }, order_id);
        assert!(matches!(vanished, ShipmentsError::Vanished { order_id: id } if id == order_id));
        let failed = PutIfAbsentError::Request(RequestFailed::new("PutItem", std::io::Error::other("throttled")));
        assert!(matches!(create_error(failed, order_id), ShipmentsError::Store(_)));
    }
}
