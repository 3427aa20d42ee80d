use std::collections::HashSet;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::{Currency, Money};
use crate::shipping_address::ShippingAddress;

/// The customer who placed the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    #[schemars(length(min = 1))]
    pub id: String,
    /// Where the confirmation goes. Only non-emptiness is part of the contract.
    #[schemars(length(min = 1))]
    pub email: String,
    /// Optional display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One line of an order: how many units of a SKU, at which unit price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    #[schemars(length(min = 1))]
    pub sku: String,
    #[schemars(range(min = 1))]
    pub quantity: u32,
    pub unit_price: Money,
}

/// Why an OrderPlaced v1 payload is not valid. Every variant names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    #[error("an order needs at least one item")]
    NoItems,
    #[error("items[{index}].sku must not be empty")]
    EmptySku { index: usize },
    #[error("items[{index}].sku {sku:?} appears more than once")]
    DuplicateSku { index: usize, sku: String },
    #[error("items[{index}].quantity must be at least 1")]
    ZeroQuantity { index: usize },
    #[error("items[{index}].unitPrice.currency is {found}, but the order is in {expected}")]
    MixedCurrency { index: usize, expected: Currency, found: Currency },
    #[error("the order total overflows")]
    TotalOverflow,
    #[error("total.amount is {declared} but the items add up to {computed}")]
    TotalMismatch { declared: u64, computed: u64 },
    #[error("total.currency is {found}, but the items are in {expected}")]
    TotalCurrencyMismatch { expected: Currency, found: Currency },
    #[error("customer.id must not be empty")]
    EmptyCustomerId,
    #[error("customer.email must not be empty")]
    EmptyCustomerEmail,
    #[error("subject {subject:?} must equal data.orderId {expected:?}")]
    SubjectMismatch { subject: String, expected: String },
    #[error("{field} {problem}")]
    InvalidText { field: &'static str, problem: &'static str },
}

/// The data of an `orders.OrderPlaced.v1` event.
///
/// The fields are private so that every value in the program satisfies the contract's invariants:
/// at least one item, one currency, unique SKUs, quantities of at least one, and
/// `total.amount = Σ quantity × unitPrice.amount` computed with checked arithmetic. Both
/// [`OrderPlacedV1::new`] and deserialisation enforce them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "OrderPlacedV1Wire")]
pub struct OrderPlacedV1 {
    order_id: Uuid,
    customer: Customer,
    items: Vec<LineItem>,
    total: Money,
    placed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shipping_address: Option<ShippingAddress>,
}

// The unchecked wire shape, only ever used on the way in (and for the JSON Schema). A plain
// comment, not a doc comment: schemars would publish it as the schema's description.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    rename = "OrderPlacedV1",
    description = "The data of an orders.OrderPlaced.v1 event. Also checked by the decoder, beyond this \
                   schema: SKUs are unique, every unit price and the total share one currency, and \
                   total.amount = Σ quantity × unitPrice.amount."
)]
struct OrderPlacedV1Wire {
    /// The order id (also the envelope's `subject`).
    order_id: Uuid,
    customer: Customer,
    /// At least one line; SKUs are unique and every unit price is in the order's currency.
    #[schemars(length(min = 1))]
    items: Vec<LineItem>,
    /// Σ quantity × unitPrice.amount, in the items' currency.
    total: Money,
    /// When the order was accepted (RFC 3339, UTC).
    #[serde(deserialize_with = "crate::time::deserialize")]
    #[schemars(with = "DateTime<Utc>")]
    placed_at: DateTime<Utc>,
    /// Where to ship once confirmed. Optional: added within v1 by the additive rule.
    #[serde(default)]
    shipping_address: Option<ShippingAddress>,
}

impl OrderPlacedV1 {
    /// Builds the event data, computing the total. Fails if any invariant is broken.
    pub fn new(
        order_id: Uuid,
        customer: Customer,
        items: Vec<LineItem>,
        placed_at: DateTime<Utc>,
    ) -> Result<Self, InvalidEvent> {
        let total = checked_total(&items)?;
        Self::checked(order_id, customer, items, total, placed_at)
    }

    fn checked(
        order_id: Uuid,
        customer: Customer,
        items: Vec<LineItem>,
        total: Money,
        placed_at: DateTime<Utc>,
    ) -> Result<Self, InvalidEvent> {
        check_customer(&customer)?;
        check_declared_total(&items, total)?;
        Ok(OrderPlacedV1 { order_id, customer, items, total, placed_at, shipping_address: None })
    }

    /// The same order, shipped to `address`.
    pub fn with_shipping_address(mut self, address: ShippingAddress) -> Self {
        self.shipping_address = Some(address);
        self
    }

    pub fn order_id(&self) -> Uuid {
        self.order_id
    }
    pub fn customer(&self) -> &Customer {
        &self.customer
    }
    pub fn items(&self) -> &[LineItem] {
        &self.items
    }
    pub fn total(&self) -> Money {
        self.total
    }
    pub fn currency(&self) -> Currency {
        self.total.currency
    }
    pub fn placed_at(&self) -> DateTime<Utc> {
        self.placed_at
    }
    pub fn shipping_address(&self) -> Option<&ShippingAddress> {
        self.shipping_address.as_ref()
    }
}

/// `customer.id` and `customer.email` are not empty.
pub(crate) fn check_customer(customer: &Customer) -> Result<(), InvalidEvent> {
    if customer.id.is_empty() {
        return Err(InvalidEvent::EmptyCustomerId);
    }
    if customer.email.is_empty() {
        return Err(InvalidEvent::EmptyCustomerEmail);
    }
    Ok(())
}

/// The items are valid and `total` is exactly what they add up to.
pub(crate) fn check_declared_total(items: &[LineItem], total: Money) -> Result<(), InvalidEvent> {
    let computed = checked_total(items)?;
    if total.currency != computed.currency {
        return Err(InvalidEvent::TotalCurrencyMismatch { expected: computed.currency, found: total.currency });
    }
    if total.amount != computed.amount {
        return Err(InvalidEvent::TotalMismatch { declared: total.amount, computed: computed.amount });
    }
    Ok(())
}

/// Up to this many lines, duplicate SKUs are found by comparison instead of a hash set.
const SMALL_ORDER: usize = 32;

/// Validates the items and returns their total in their common currency.
pub(crate) fn checked_total(items: &[LineItem]) -> Result<Money, InvalidEvent> {
    let first = items.first().ok_or(InvalidEvent::NoItems)?;
    let currency = first.unit_price.currency;
    // Orders are short: comparing with the earlier lines beats hashing (and allocating a set) until
    // a few dozen lines.
    let mut seen = (items.len() > SMALL_ORDER).then(|| HashSet::with_capacity(items.len()));
    let mut amount: u64 = 0;
    for (index, item) in items.iter().enumerate() {
        if item.sku.is_empty() {
            return Err(InvalidEvent::EmptySku { index });
        }
        let duplicate = match seen.as_mut() {
            Some(seen) => !seen.insert(item.sku.as_str()),
            None => items[..index].iter().any(|earlier| earlier.sku == item.sku),
        };
        if duplicate {
            return Err(InvalidEvent::DuplicateSku { index, sku: item.sku.clone() });
        }
        if item.quantity == 0 {
            return Err(InvalidEvent::ZeroQuantity { index });
        }
        if item.unit_price.currency != currency {
            return Err(InvalidEvent::MixedCurrency { index, expected: currency, found: item.unit_price.currency });
        }
        amount = item
            .unit_price
            .amount
            .checked_mul(u64::from(item.quantity))
            .and_then(|line| amount.checked_add(line))
            .ok_or(InvalidEvent::TotalOverflow)?;
    }
    Ok(Money { amount, currency })
}

impl TryFrom<OrderPlacedV1Wire> for OrderPlacedV1 {
    type Error = InvalidEvent;
    fn try_from(wire: OrderPlacedV1Wire) -> Result<Self, Self::Error> {
        let placed = Self::checked(wire.order_id, wire.customer, wire.items, wire.total, wire.placed_at)?;
        Ok(OrderPlacedV1 { shipping_address: wire.shipping_address, ..placed })
    }
}

impl JsonSchema for OrderPlacedV1 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        OrderPlacedV1Wire::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        OrderPlacedV1Wire::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        "EUR".parse().unwrap()
    }

    fn item(sku: &str, quantity: u32, amount: u64, currency: Currency) -> LineItem {
        LineItem { sku: sku.into(), quantity, unit_price: Money::new(amount, currency) }
    }

    fn customer() -> Customer {
        Customer { id: "cus_1".into(), email: "a@example.com".into(), name: None }
    }

    #[test]
    fn new_computes_the_total() {
        let order = OrderPlacedV1::new(
            Uuid::now_v7(),
            customer(),
            vec![item("A", 2, 1999, eur()), item("B", 1, 1, eur())],
            Utc::now(),
        )
        .unwrap();
        assert_eq!(order.total(), Money::new(3999, eur()));
    }

    #[test]
    fn new_rejects_broken_invariants() {
        let usd = "USD".parse().unwrap();
        let cases = [
            (vec![], InvalidEvent::NoItems),
            (vec![item("A", 0, 1, eur())], InvalidEvent::ZeroQuantity { index: 0 }),
            (
                vec![item("A", 1, 1, eur()), item("B", 1, 1, usd)],
                InvalidEvent::MixedCurrency { index: 1, expected: eur(), found: usd },
            ),
            (
                vec![item("A", 1, 1, eur()), item("A", 1, 1, eur())],
                InvalidEvent::DuplicateSku { index: 1, sku: "A".into() },
            ),
            (vec![item("A", 2, u64::MAX, eur())], InvalidEvent::TotalOverflow),
            (vec![item("", 1, 1, eur())], InvalidEvent::EmptySku { index: 0 }),
        ];
        // Past SMALL_ORDER lines the duplicate check hashes; it must find the same thing.
        let mut many: Vec<LineItem> = (0..SMALL_ORDER + 8).map(|i| item(&format!("S{i}"), 1, 1, eur())).collect();
        many.push(item("S3", 1, 1, eur()));
        let index = many.len() - 1;
        let mut cases = cases.to_vec();
        cases.push((many, InvalidEvent::DuplicateSku { index, sku: "S3".into() }));
        for (items, expected) in cases {
            assert_eq!(OrderPlacedV1::new(Uuid::now_v7(), customer(), items, Utc::now()), Err(expected));
        }
    }
}
