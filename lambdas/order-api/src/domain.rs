//! The pure domain: validating a POST /orders body, placing the order (id, time, total) and
//! turning it into the OrderPlaced v1 event. No I/O here, so it is cheap to test and benchmark.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use orderflow_events::{
    CancellationReason, Currency, Customer, InvalidEvent, LineItem, MAX_ADDRESS_FIELD_CHARS, Money,
    ORDER_SERVICE_SOURCE, OrderPlacedEvent, ShippingAddress,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Bounds from the HTTP contract (`docs/contracts/http-api.md`).
pub const MAX_ITEMS: usize = 100;
pub const MAX_CUSTOMER_ID_CHARS: usize = 64;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_SKU_CHARS: usize = 64;
pub const MIN_QUANTITY: u64 = 1;
pub const MAX_QUANTITY: u64 = 1000;
pub const MAX_UNIT_PRICE: u64 = 10_000_000;
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;

/// One broken rule, named by a JSON-pointer-like path (`items[0].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl fmt::Display, message: impl Into<String>) -> Self {
        FieldError { field: field.to_string(), message: message.into() }
    }
}

/// `items[3]` or `items[3].sku`, rendered only when there is an error to report: building the
/// path strings for every field of every valid item is most of the cost of validation.
#[derive(Clone, Copy)]
struct ItemField {
    index: usize,
    name: &'static str,
}

impl fmt::Display for ItemField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "items[{}]", self.index)
        } else {
            write!(f, "items[{}].{}", self.index, self.name)
        }
    }
}

/// The currencies this service accepts (a subset of ISO 4217), from `SUPPORTED_CURRENCIES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedCurrencies {
    /// Sorted, so error messages list them in a stable order.
    codes: Vec<Currency>,
}

impl SupportedCurrencies {
    pub const DEFAULT: &'static str = "EUR,USD,GBP";

    /// Parses a comma-separated list (`EUR,USD,GBP`); blanks around codes are ignored.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut codes = Vec::new();
        for code in list.split(',').map(str::trim).filter(|code| !code.is_empty()) {
            codes.push(code.parse::<Currency>().map_err(|error| error.to_string())?);
        }
        if codes.is_empty() {
            return Err("the list of supported currencies is empty".to_owned());
        }
        codes.sort();
        codes.dedup();
        Ok(SupportedCurrencies { codes })
    }

    pub fn contains(&self, currency: Currency) -> bool {
        self.codes.contains(&currency)
    }
}

impl Default for SupportedCurrencies {
    fn default() -> Self {
        // The literal is a valid list; the fallback keeps this total without an unwrap.
        Self::parse(Self::DEFAULT).unwrap_or(SupportedCurrencies { codes: Vec::new() })
    }
}

impl fmt::Display for SupportedCurrencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codes: Vec<&str> = self.codes.iter().map(Currency::as_str).collect();
        f.write_str(&codes.join(", "))
    }
}

/// One line of an order as the API speaks it: unit price in minor units of the order currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub sku: String,
    pub quantity: u32,
    pub unit_price: u64,
}

/// A POST /orders body that satisfies every rule of the contract, with its total computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidOrderRequest {
    customer: Customer,
    currency: Currency,
    items: Vec<OrderLine>,
    total: u64,
    shipping_address: Option<ShippingAddress>,
}

impl ValidOrderRequest {
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn shipping_address(&self) -> Option<&ShippingAddress> {
        self.shipping_address.as_ref()
    }
}

/// Where an order is in its lifecycle: `PLACED`, then `CONFIRMED` or `CANCELLED`, never back
/// (`docs/contracts/order-lifecycle.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Placed,
    Confirmed,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "PLACED",
            OrderStatus::Confirmed => "CONFIRMED",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }

    /// Settled: nothing changes the order any more.
    pub fn is_settled(self) -> bool {
        !matches!(self, OrderStatus::Placed)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `status` that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order status {0:?}")]
pub struct UnknownOrderStatus(pub String);

impl std::str::FromStr for OrderStatus {
    type Err = UnknownOrderStatus;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        [OrderStatus::Placed, OrderStatus::Confirmed, OrderStatus::Cancelled]
            .into_iter()
            .find(|status| status.as_str() == value)
            .ok_or_else(|| UnknownOrderStatus(value.to_owned()))
    }
}

/// The order: the 201/200 response body, and the contract's part of the OrdersTable item (the
/// lifecycle's bookkeeping beside it is [`crate::record::OrderRecord`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: Uuid,
    pub status: OrderStatus,
    /// Why the order was cancelled; only on a `CANCELLED` order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<CancellationReason>,
    pub customer: Customer,
    pub items: Vec<OrderLine>,
    pub currency: Currency,
    pub total: u64,
    #[serde(with = "millisecond_timestamp")]
    pub placed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<ShippingAddress>,
}

impl Order {
    /// Places a validated request: the caller supplies the id (UUID v7) and the time, truncated
    /// to milliseconds so that the stored, returned and published times are the same instant.
    pub fn place(request: ValidOrderRequest, order_id: Uuid, now: DateTime<Utc>) -> Order {
        Order {
            order_id,
            status: OrderStatus::Placed,
            status_reason: None,
            customer: request.customer,
            items: request.items,
            currency: request.currency,
            total: request.total,
            placed_at: truncate_to_millis(now),
            shipping_address: request.shipping_address,
        }
    }

    /// `/orders/{orderId}`, the `Location` of a created order.
    pub fn location(&self) -> String {
        format!("/orders/{}", self.order_id)
    }

    /// The response body (and stored idempotent response).
    pub fn to_json(&self) -> String {
        // Plain structs of strings and integers: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The OrderPlaced v1 event for this order. `event_id` is new for each order; a re-publish
    /// reuses the stored body, so the id never changes after this.
    pub fn to_event(&self, event_id: Uuid) -> Result<OrderPlacedEvent, InvalidEvent> {
        let mut data = orderflow_events::OrderPlacedV1::new(
            self.order_id,
            self.customer.clone(),
            self.line_items(),
            self.placed_at,
        )?;
        if let Some(address) = &self.shipping_address {
            data = data.with_shipping_address(address.clone());
        }
        Ok(OrderPlacedEvent::new(event_id, ORDER_SERVICE_SOURCE, self.placed_at, data))
    }

    /// The items as the events carry them: unit prices as money in the order's currency.
    pub fn line_items(&self) -> Vec<LineItem> {
        self.items
            .iter()
            .map(|line| LineItem {
                sku: line.sku.clone(),
                quantity: line.quantity,
                unit_price: Money::new(line.unit_price, self.currency),
            })
            .collect()
    }

    /// The total as money.
    pub fn total_money(&self) -> Money {
        Money::new(self.total, self.currency)
    }
}

pub fn truncate_to_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

/// RFC 3339 with exactly three fractional digits and `Z`: fixed width, so strings sort as times
/// (the outbox GSI sort key relies on it).
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

mod millisecond_timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_timestamp(*time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text).map(|time| time.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

/// A client-chosen `Idempotency-Key`: 1-128 chars of `A-Z a-z 0-9 - _ . :`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(key: &str) -> Result<Self, FieldError> {
        if is_token(key, MAX_IDEMPOTENCY_KEY_CHARS) {
            Ok(IdempotencyKey(key.to_owned()))
        } else {
            Err(FieldError::new(
                "Idempotency-Key",
                format!("must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} characters of A-Z a-z 0-9 - _ . :"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `1..=max` chars of `A-Z a-z 0-9 - _ . :`: the idempotency key alphabet, also used to decide
/// whether a caller's `X-Correlation-Id` is safe to echo and log.
pub fn is_token(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// SHA-256 (hex) of the canonical form of a request body: parsed, then re-serialised with sorted
/// keys and no whitespace, so key order and formatting do not make two equal requests differ.
pub fn request_hash(body: &Value) -> String {
    let mut hasher = Sha256::new();
    write_canonical(body, &mut hasher);
    hex::encode(hasher.finalize())
}

/// Streams the canonical JSON straight into the hasher: no intermediate string.
fn write_canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            // Sorted explicitly: serde_json's map keeps insertion order if any crate in the
            // build enables `preserve_order`.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            hasher.update(b"{");
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    hasher.update(b",");
                }
                write_json(key.as_str(), hasher);
                hasher.update(b":");
                write_canonical(value, hasher);
            }
            hasher.update(b"}");
        }
        Value::Array(values) => {
            hasher.update(b"[");
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    hasher.update(b",");
                }
                write_canonical(value, hasher);
            }
            hasher.update(b"]");
        }
        scalar => write_json(scalar, hasher),
    }
}

/// serde_json's own escaping and number formatting, written into the hasher.
fn write_json<T: Serialize + ?Sized>(value: &T, hasher: &mut Sha256) {
    // Writing JSON scalars into a hasher cannot fail (`io::Write` for Sha256 is infallible).
    let _infallible = serde_json::to_writer(HashWriter(hasher), value);
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Validates a parsed POST /orders body field by field, collecting every broken rule, so a
/// client fixes its request in one round trip. Unknown fields are ignored (forward compatible).
pub fn validate_order(
    body: &Map<String, Value>,
    currencies: &SupportedCurrencies,
) -> Result<ValidOrderRequest, Vec<FieldError>> {
    let mut errors = Vec::new();
    let customer = validate_customer(body.get("customer"), &mut errors);
    let currency = validate_currency(body.get("currency"), currencies, &mut errors);
    let items = validate_items(body.get("items"), &mut errors);
    let shipping_address = validate_shipping_address(body.get("shippingAddress"), &mut errors);
    let (Some(customer), Some(currency), Some(items), Ok(shipping_address)) =
        (customer, currency, items, shipping_address)
    else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    // Bounded by the rules above (100 × 1000 × 10^7 < 2^64), but checked all the same.
    let total = items.iter().try_fold(0u64, |sum, line| {
        line.unit_price.checked_mul(u64::from(line.quantity)).and_then(|amount| sum.checked_add(amount))
    });
    match total {
        Some(total) => Ok(ValidOrderRequest { customer, currency, items, total, shipping_address }),
        None => Err(vec![FieldError::new("items", "the order total is too large")]),
    }
}

/// `null` counts as absent: clients often serialise unset optionals that way.
fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|value| !value.is_null())
}

fn required<'a>(value: Option<&'a Value>, field: &dyn fmt::Display, errors: &mut Vec<FieldError>) -> Option<&'a Value> {
    let value = present(value);
    if value.is_none() {
        errors.push(FieldError::new(field, "is required"));
    }
    value
}

fn required_string<'a>(
    value: Option<&'a Value>,
    field: &dyn fmt::Display,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match required(value, field, errors)? {
        Value::String(text) => Some(text),
        _ => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
    }
}

fn validate_customer(value: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Customer> {
    let Value::Object(customer) = required(value, &"customer", errors)? else {
        errors.push(FieldError::new("customer", "must be an object"));
        return None;
    };
    let id = required_string(customer.get("id"), &"customer.id", errors).and_then(|id| {
        let valid = !id.is_empty()
            && id.len() <= MAX_CUSTOMER_ID_CHARS
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            errors.push(FieldError::new(
                "customer.id",
                format!("must be 1-{MAX_CUSTOMER_ID_CHARS} characters of A-Z a-z 0-9 _ -"),
            ));
        }
        valid.then(|| id.to_owned())
    });
    let email = required_string(customer.get("email"), &"customer.email", errors).and_then(|email| {
        if !email.is_ascii() {
            // SES (v1 SendEmail, which notification calls) takes 7-bit ASCII addresses only: an
            // internationalized one would be accepted here and end in the notification DLQ.
            errors.push(FieldError::new("customer.email", NOT_DELIVERABLE_BY_SES));
            return None;
        }
        let valid = is_plausible_email(email);
        if !valid {
            errors.push(FieldError::new(
                "customer.email",
                format!("must be a valid email address of at most {MAX_EMAIL_CHARS} characters"),
            ));
        }
        valid.then(|| email.to_owned())
    });
    let name = match present(customer.get("name")) {
        None => Ok(None),
        Some(Value::String(name)) if name.chars().count() > MAX_NAME_CHARS => {
            errors.push(FieldError::new("customer.name", format!("must be at most {MAX_NAME_CHARS} characters")));
            Err(())
        }
        Some(Value::String(name)) if !is_single_line_text(name) => {
            errors.push(FieldError::new("customer.name", NO_CONTROL_CHARACTERS));
            Err(())
        }
        Some(Value::String(name)) => Ok(Some(name.clone())),
        Some(_) => {
            errors.push(FieldError::new("customer.name", "must be a string"));
            Err(())
        }
    };
    Some(Customer { id: id?, email: email?, name: name.ok()? })
}

const NO_CONTROL_CHARACTERS: &str = "must not contain control characters, line breaks or bidirectional controls";
const NOT_DELIVERABLE_BY_SES: &str =
    "must be an ASCII address: the order emails are sent through SES, which delivers no internationalized addresses";

/// The contract's rule for free text: no control characters (which include `\n`, `\r`, `\t`
/// and NEL), no Unicode line or paragraph separators, and no bidirectional controls, so that a
/// name or an address line is one line in an email, a label or a log, and reads as it is.
pub fn is_single_line_text(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_bidi_control(c))
}

/// The Unicode bidirectional marks, embeddings, overrides and isolates: in an email they can make
/// text display reversed or reordered (a name shown as a different link or amount), the trick of
/// "Trojan Source" (CVE-2021-42574). Names in right-to-left scripts need none of them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The optional `shippingAddress`: `line1`, `line2` (optional), `city`, `postalCode` of 1-100
/// single-line characters, `country` ISO 3166-1 alpha-2 in upper case. `Ok(None)` when absent,
/// `Err(())` when broken (the errors are pushed).
fn validate_shipping_address(
    value: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> Result<Option<ShippingAddress>, ()> {
    let Some(value) = present(value) else {
        return Ok(None);
    };
    let Value::Object(address) = value else {
        errors.push(FieldError::new("shippingAddress", "must be an object"));
        return Err(());
    };
    let mut text = |name: &str, optional: bool| -> Result<Option<String>, ()> {
        let field = format!("shippingAddress.{name}");
        let value = if optional {
            match present(address.get(name)) {
                None => return Ok(None),
                Some(Value::String(text)) => Some(text.as_str()),
                Some(_) => {
                    errors.push(FieldError::new(&field, "must be a string"));
                    return Err(());
                }
            }
        } else {
            required_string(address.get(name), &field, errors)
        };
        let Some(text) = value else {
            return Err(());
        };
        let length = text.chars().count();
        if length == 0 || length > MAX_ADDRESS_FIELD_CHARS {
            errors.push(FieldError::new(&field, format!("must be 1-{MAX_ADDRESS_FIELD_CHARS} characters")));
            return Err(());
        }
        if !is_single_line_text(text) {
            errors.push(FieldError::new(&field, NO_CONTROL_CHARACTERS));
            return Err(());
        }
        Ok(Some(text.to_owned()))
    };
    let line1 = text("line1", false);
    let line2 = text("line2", true);
    let city = text("city", false);
    let postal_code = text("postalCode", false);
    let country = required_string(address.get("country"), &"shippingAddress.country", errors).and_then(|country| {
        let valid = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
        if !valid {
            errors.push(FieldError::new(
                "shippingAddress.country",
                "must be an ISO 3166-1 alpha-2 code in upper case (e.g. FR)",
            ));
        }
        valid.then(|| country.to_owned())
    });
    let (Ok(Some(line1)), Ok(line2), Ok(Some(city)), Ok(Some(postal_code)), Some(country)) =
        (line1, line2, city, postal_code, country)
    else {
        return Err(());
    };
    // The events crate checks the same rules again; a disagreement is reported, not hidden.
    ShippingAddress::new(line1, line2, city, postal_code, country).map(Some).map_err(|error| {
        errors.push(FieldError::new("shippingAddress", error.to_string()));
    })
}

/// Plausible, not RFC 5322: one `@`, a non-empty local part of at most 64 chars, a dotted
/// domain of non-empty labels, no whitespace or control characters. Deliverability is the
/// notification service's problem.
fn is_plausible_email(email: &str) -> bool {
    if email.chars().count() > MAX_EMAIL_CHARS || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty() && !label.starts_with('-') && !label.ends_with('-') && !label.contains(['@', '[', ']'])
    });
    !local.is_empty() && local.len() <= 64 && domain.contains('.') && labels_ok
}

fn validate_currency(
    value: Option<&Value>,
    currencies: &SupportedCurrencies,
    errors: &mut Vec<FieldError>,
) -> Option<Currency> {
    let code = required_string(value, &"currency", errors)?;
    let Ok(currency) = code.parse::<Currency>() else {
        errors.push(FieldError::new("currency", "must be an ISO 4217 code of three upper-case letters"));
        return None;
    };
    if !currencies.contains(currency) {
        errors.push(FieldError::new("currency", format!("is not supported; supported currencies: {currencies}")));
        return None;
    }
    Some(currency)
}

fn validate_items(value: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Vec<OrderLine>> {
    let Value::Array(entries) = required(value, &"items", errors)? else {
        errors.push(FieldError::new("items", "must be an array"));
        return None;
    };
    let mut valid = true;
    if entries.is_empty() || entries.len() > MAX_ITEMS {
        errors.push(FieldError::new("items", format!("must have 1-{MAX_ITEMS} entries")));
        valid = false;
    }
    // Every entry is still checked when there are too many: the 64 KiB body limit bounds the
    // work, and the client learns about every bad field at once.
    let mut lines = Vec::with_capacity(entries.len().min(MAX_ITEMS));
    let mut first_index_of_sku: HashMap<&str, usize> = HashMap::with_capacity(entries.len().min(MAX_ITEMS));
    for (index, entry) in entries.iter().enumerate() {
        let Value::Object(entry) = entry else {
            errors.push(FieldError::new(ItemField { index, name: "" }, "must be an object"));
            valid = false;
            continue;
        };
        let sku_field = ItemField { index, name: "sku" };
        let sku = required_string(entry.get("sku"), &sku_field, errors).filter(|sku| {
            let ok = !sku.is_empty()
                && sku.len() <= MAX_SKU_CHARS
                && sku.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                errors.push(FieldError::new(sku_field, format!("must be 1-{MAX_SKU_CHARS} characters of A-Z 0-9 -")));
            }
            ok
        });
        if let Some(sku) = sku
            && let Some(first) = first_index_of_sku.insert(sku, index)
        {
            // Keep pointing at the first occurrence, so a third copy names it too.
            first_index_of_sku.insert(sku, first);
            errors.push(FieldError::new(sku_field, format!("duplicates items[{first}].sku; each sku must be unique")));
            valid = false;
        }
        let quantity = integer_in_range(
            entry.get("quantity"),
            &ItemField { index, name: "quantity" },
            MIN_QUANTITY,
            MAX_QUANTITY,
            errors,
        );
        let unit_price = integer_in_range(
            entry.get("unitPrice"),
            &ItemField { index, name: "unitPrice" },
            0,
            MAX_UNIT_PRICE,
            errors,
        );
        match (sku, quantity.and_then(|q| u32::try_from(q).ok()), unit_price) {
            (Some(sku), Some(quantity), Some(unit_price)) => {
                lines.push(OrderLine { sku: sku.to_owned(), quantity, unit_price })
            }
            _ => valid = false,
        }
    }
    valid.then_some(lines)
}

fn integer_in_range(
    value: Option<&Value>,
    field: &dyn fmt::Display,
    min: u64,
    max: u64,
    errors: &mut Vec<FieldError>,
) -> Option<u64> {
    let value = required(value, field, errors)?;
    let in_range = match value {
        // Only JSON integers: `2.0` or `1e3` are rejected rather than silently truncated.
        Value::Number(number) if number.is_u64() => number.as_u64().filter(|n| (min..=max).contains(n)),
        Value::Number(number) if number.is_i64() => None,
        _ => {
            errors.push(FieldError::new(field, "must be an integer"));
            return None;
        }
    };
    if in_range.is_none() {
        errors.push(FieldError::new(field, format!("must be between {min} and {max}")));
    }
    in_range
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn valid_body() -> Value {
        json!({
            "customer": { "id": "cus_1001", "email": "ada@example.com", "name": "Ada Lovelace" },
            "currency": "EUR",
            "items": [ { "sku": "BOOK-0001", "quantity": 2, "unitPrice": 1999 } ]
        })
    }

    fn validate(body: &Value) -> Result<ValidOrderRequest, Vec<FieldError>> {
        validate_order(body.as_object().expect("test bodies are objects"), &SupportedCurrencies::default())
    }

    fn fields(body: Value) -> Vec<String> {
        validate(&body).expect_err("expected errors").into_iter().map(|error| error.field).collect()
    }

    #[test]
    fn accepts_the_contract_example_and_computes_the_total() {
        let request = validate(&valid_body()).expect("valid");
        assert_eq!(request.total(), 3998);
    }

    #[test]
    fn reports_every_bad_field_with_its_path() {
        let body = json!({
            "customer": { "id": "", "email": "not-an-email", "name": 7 },
            "currency": "XXX",
            "items": [
                { "sku": "BOOK-1", "quantity": 0, "unitPrice": -1 },
                { "sku": "book", "quantity": 1.5, "unitPrice": "12" },
                { "sku": "BOOK-1", "quantity": 1001, "unitPrice": 10_000_001 },
                "nope"
            ]
        });
        assert_eq!(
            fields(body),
            [
                "customer.id",
                "customer.email",
                "customer.name",
                "currency",
                "items[0].quantity",
                "items[0].unitPrice",
                "items[1].sku",
                "items[1].quantity",
                "items[1].unitPrice",
                "items[2].sku",
                "items[2].quantity",
                "items[2].unitPrice",
                "items[3]",
            ]
        );
    }

    #[test]
    fn reports_missing_and_wrongly_typed_fields() {
        assert_eq!(fields(json!({})), ["customer", "currency", "items"]);
        assert_eq!(fields(json!({"customer": [], "currency": 1, "items": {}})), ["customer", "currency", "items"]);
        assert_eq!(
            fields(json!({"customer": {}, "currency": "EUR", "items": [{}]})),
            ["customer.id", "customer.email", "items[0].sku", "items[0].quantity", "items[0].unitPrice"]
        );
    }

    #[test]
    fn item_count_must_be_1_to_100() {
        let mut body = valid_body();
        body["items"] = json!([]);
        assert_eq!(fields(body.clone()), ["items"]);
        let many: Vec<Value> =
            (0..101).map(|n| json!({"sku": format!("SKU-{n}"), "quantity": 1, "unitPrice": 1})).collect();
        body["items"] = Value::Array(many[..100].to_vec());
        assert!(validate(&body).is_ok());
        body["items"] = Value::Array(many);
        assert_eq!(fields(body), ["items"]);
    }

    #[test]
    fn unsupported_currency_is_named() {
        let mut body = valid_body();
        body["currency"] = json!("JPY");
        let errors = validate(&body).expect_err("JPY is not supported by default");
        assert_eq!(errors[0].field, "currency");
        assert!(errors[0].message.contains("EUR, GBP, USD"), "{}", errors[0].message);
    }

    #[test]
    fn boundaries_are_inclusive() {
        let mut body = valid_body();
        body["items"] = json!([{ "sku": "A", "quantity": 1000, "unitPrice": 10_000_000 }, { "sku": "B", "quantity": 1, "unitPrice": 0 }]);
        body["customer"]["name"] = json!("n".repeat(200));
        body["customer"]["id"] = json!("c".repeat(64));
        assert_eq!(validate(&body).expect("valid").total(), 10_000_000_000);
        body["customer"]["name"] = json!("n".repeat(201));
        assert_eq!(fields(body), ["customer.name"]);
    }

    #[test]
    fn a_shipping_address_is_optional_and_checked_field_by_field() {
        let mut body = valid_body();
        assert_eq!(validate(&body).expect("valid").shipping_address(), None);
        body["shippingAddress"] = Value::Null;
        assert_eq!(validate(&body).expect("null is absent").shipping_address(), None);
        body["shippingAddress"] =
            json!({ "line1": "1 Main St", "line2": "Flat 2", "city": "Lyon", "postalCode": "69001", "country": "FR" });
        let address = validate(&body).expect("valid").shipping_address().cloned().expect("address");
        assert_eq!((address.line1(), address.line2(), address.country()), ("1 Main St", Some("Flat 2"), "FR"));
        body["shippingAddress"]["line2"] = Value::Null;
        assert_eq!(validate(&body).expect("valid").shipping_address().and_then(|a| a.line2().map(str::to_owned)), None);
        body["shippingAddress"]["city"] = json!("c".repeat(100));
        assert!(validate(&body).is_ok(), "100 characters are fine");

        body["shippingAddress"] = json!({ "line1": "", "line2": "", "city": "c".repeat(101), "country": "fr" });
        assert_eq!(
            fields(body.clone()),
            [
                "shippingAddress.line1",
                "shippingAddress.line2",
                "shippingAddress.city",
                "shippingAddress.postalCode",
                "shippingAddress.country"
            ]
        );
        for country in ["FRA", "F", "F1", "ÉS", ""] {
            body["shippingAddress"] =
                json!({ "line1": "1", "city": "Lyon", "postalCode": "69001", "country": country });
            assert_eq!(fields(body.clone()), ["shippingAddress.country"], "{country:?}");
        }
        body["shippingAddress"] =
            json!({ "line1": 1, "line2": ["x"], "city": "Lyon", "postalCode": "69001", "country": "FR" });
        assert_eq!(fields(body.clone()), ["shippingAddress.line1", "shippingAddress.line2"]);
        body["shippingAddress"] = json!("1 Main St, Lyon");
        assert_eq!(fields(body), ["shippingAddress"]);
    }

    #[test]
    fn free_text_has_no_control_characters_or_line_breaks() {
        for bad in [
            "Ada\nLovelace",
            "Ada\r",
            "\tAda",
            "Ada\u{0}",
            "Ada\u{85}",
            "Ada\u{2028}L",
            "Ada\u{2029}",
            "\u{1b}[31m",
            "Ada\u{202E}",
            "\u{2066}Ada\u{2069}",
        ] {
            let mut body = valid_body();
            body["customer"]["name"] = json!(bad);
            let errors = validate(&body).expect_err(bad);
            assert_eq!(errors.len(), 1, "{bad:?}");
            assert_eq!(errors[0].field, "customer.name");
            assert!(errors[0].message.contains("control characters"), "{}", errors[0].message);
            for field in ["line1", "line2", "city", "postalCode"] {
                let mut body = valid_body();
                body["shippingAddress"] =
                    json!({ "line1": "1 Main St", "city": "Lyon", "postalCode": "69001", "country": "FR" });
                body["shippingAddress"][field] = json!(bad);
                assert_eq!(fields(body), [format!("shippingAddress.{field}")], "{field} {bad:?}");
            }
        }
        let mut body = valid_body();
        body["customer"]["name"] = json!("Zoë O'Brien-Łukasiewicz 李");
        assert!(validate(&body).is_ok(), "letters of any script are fine");
    }

    #[test]
    fn duplicate_skus_point_at_the_first_occurrence() {
        let mut body = valid_body();
        body["items"] = json!([
            { "sku": "A", "quantity": 1, "unitPrice": 1 },
            { "sku": "A", "quantity": 1, "unitPrice": 1 },
            { "sku": "A", "quantity": 1, "unitPrice": 1 }
        ]);
        let errors = validate(&body).expect_err("duplicates");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[1].field, "items[2].sku");
        assert!(errors[1].message.contains("items[0].sku"));
    }

    #[test]
    fn names_in_any_script_are_one_line_text_and_bidi_controls_are_not() {
        for good in ["Ada Lovelace", "José Müller-Lüdenscheidt", "محمد", "李小龍", "O'Brien, Jr."] {
            assert!(is_single_line_text(good), "{good}");
        }
        for bad in ["lrm\u{200E}", "rlm\u{200F}", "alm\u{061C}", "\u{202A}embedding", "isolate\u{2068}"] {
            assert!(!is_single_line_text(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_non_ascii_email_is_refused_naming_ses() {
        let mut body = valid_body();
        body["customer"]["email"] = json!("jürgen@example.de");
        let errors = validate(&body).expect_err("not deliverable");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "customer.email");
        assert!(errors[0].message.contains("ASCII") && errors[0].message.contains("SES"), "{}", errors[0].message);
        let mut body = valid_body();
        body["customer"]["name"] = json!("Ada\u{202E}1 EUR");
        let errors = validate(&body).expect_err("a bidirectional override");
        assert_eq!((errors.len(), errors[0].field.as_str()), (1, "customer.name"));
    }

    #[test]
    fn email_plausibility() {
        for good in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(is_plausible_email(good), "{good}");
        }
        let too_long = format!("{}@example.com", "a".repeat(250));
        for bad in ["", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@b..c", "a@-b.co", too_long.as_str()] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn idempotency_keys_and_tokens() {
        assert!(IdempotencyKey::parse("order-1:retry_2.a").is_ok());
        for bad in ["", "has space", "ümlaut", &"k".repeat(129)] {
            assert_eq!(IdempotencyKey::parse(bad).expect_err(bad).field, "Idempotency-Key");
        }
    }

    #[test]
    fn request_hash_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": [1, {"y": 1, "x": 2}], "a": "s"}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"a":"s","b":[1,{"x":2,"y":1}]}"#).expect("json");
        let c: Value = serde_json::from_str(r#"{"a":"s","b":[{"x":2,"y":1},1]}"#).expect("json");
        assert_eq!(request_hash(&a), request_hash(&b));
        assert_ne!(request_hash(&a), request_hash(&c));
    }

    #[test]
    fn placed_order_serialises_as_the_contract_body_and_event() {
        let order_id = Uuid::parse_str("0193a5d2-7c1d-7000-8000-0123456789ab").expect("uuid");
        let now = DateTime::parse_from_rfc3339("2026-11-23T18:30:00.120456Z").expect("time").with_timezone(&Utc);
        let order = Order::place(validate(&valid_body()).expect("valid"), order_id, now);
        let body: Value = serde_json::from_str(&order.to_json()).expect("json");
        assert_eq!(
            body,
            json!({
                "orderId": "0193a5d2-7c1d-7000-8000-0123456789ab",
                "status": "PLACED",
                "customer": { "id": "cus_1001", "email": "ada@example.com", "name": "Ada Lovelace" },
                "items": [ { "sku": "BOOK-0001", "quantity": 2, "unitPrice": 1999 } ],
                "currency": "EUR",
                "total": 3998,
                "placedAt": "2026-11-23T18:30:00.120Z"
            })
        );
        // Field order as in the contract, for humans reading responses.
        assert!(order.to_json().starts_with(r#"{"orderId":"0193a5d2-7c1d-7000-8000-0123456789ab","status":"PLACED","#));
        let event = order.to_event(Uuid::now_v7()).expect("event");
        assert_eq!(event.data().total().amount, 3998);
        assert_eq!(event.subject(), order_id.to_string());
        assert_eq!(event.data().shipping_address(), None);
        assert_eq!(serde_json::from_value::<Order>(body).expect("round trip"), order);
    }

    #[test]
    fn the_shipping_address_is_in_the_body_and_on_the_event() {
        let mut request = valid_body();
        request["shippingAddress"] =
            json!({ "line1": "1 Main St", "city": "Lyon", "postalCode": "69001", "country": "FR" });
        let order = Order::place(validate(&request).expect("valid"), Uuid::now_v7(), Utc::now());
        let body: Value = serde_json::from_str(&order.to_json()).expect("json");
        assert_eq!(body["shippingAddress"], request["shippingAddress"]);
        assert!(body.get("statusReason").is_none(), "no reason while placed");
        let event = order.to_event(Uuid::now_v7()).expect("event");
        assert_eq!(event.data().shipping_address(), order.shipping_address.as_ref());
        let published: Value = serde_json::from_str(&event.to_json()).expect("json");
        assert_eq!(published["data"]["shippingAddress"], request["shippingAddress"]);
    }

    #[test]
    fn statuses_round_trip_through_their_text() {
        for status in [OrderStatus::Placed, OrderStatus::Confirmed, OrderStatus::Cancelled] {
            assert_eq!(status.to_string().parse(), Ok(status));
            assert_eq!(serde_json::to_value(status).expect("json"), json!(status.as_str()));
        }
        assert_eq!("placed".parse::<OrderStatus>(), Err(UnknownOrderStatus("placed".into())));
    }
}
