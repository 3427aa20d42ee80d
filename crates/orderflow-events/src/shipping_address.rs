use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::order_placed::InvalidEvent;

/// Longest line, city or postal code the contract accepts, in characters.
pub const MAX_ADDRESS_FIELD_CHARS: usize = 100;

/// Where a confirmed order is shipped. Added to OrderPlaced v1 by the additive rule: optional,
/// so every earlier event still decodes and a consumer that does not know it ignores it.
///
/// Every text field is 1–100 characters without control characters or line breaks; `country` is
/// an ISO 3166-1 alpha-2 code in upper case. Both [`ShippingAddress::new`] and deserialisation
/// check it, so no value of this type breaks those rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "ShippingAddressWire")]
pub struct ShippingAddress {
    line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line2: Option<String>,
    city: String,
    postal_code: String,
    country: String,
}

// The unchecked wire shape (and the schema's). A plain comment: schemars would publish a doc
// comment as the schema's description.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "ShippingAddress", description = "Where a confirmed order is shipped (optional, added within v1).")]
struct ShippingAddressWire {
    #[schemars(length(min = 1, max = 100))]
    line1: String,
    #[serde(default)]
    #[schemars(length(min = 1, max = 100))]
    line2: Option<String>,
    #[schemars(length(min = 1, max = 100))]
    city: String,
    #[schemars(length(min = 1, max = 100))]
    postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    #[schemars(regex(pattern = r"^[A-Z]{2}$"))]
    country: String,
}

impl ShippingAddress {
    pub fn new(
        line1: impl Into<String>,
        line2: Option<String>,
        city: impl Into<String>,
        postal_code: impl Into<String>,
        country: impl Into<String>,
    ) -> Result<Self, InvalidEvent> {
        let address = ShippingAddress {
            line1: line1.into(),
            line2,
            city: city.into(),
            postal_code: postal_code.into(),
            country: country.into(),
        };
        check_text("shippingAddress.line1", &address.line1)?;
        if let Some(line2) = &address.line2 {
            check_text("shippingAddress.line2", line2)?;
        }
        check_text("shippingAddress.city", &address.city)?;
        check_text("shippingAddress.postalCode", &address.postal_code)?;
        if !(address.country.len() == 2 && address.country.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(InvalidEvent::InvalidText {
                field: "shippingAddress.country",
                problem: "must be an ISO 3166-1 alpha-2 code in upper case",
            });
        }
        Ok(address)
    }

    pub fn line1(&self) -> &str {
        &self.line1
    }
    pub fn line2(&self) -> Option<&str> {
        self.line2.as_deref()
    }
    pub fn city(&self) -> &str {
        &self.city
    }
    pub fn postal_code(&self) -> &str {
        &self.postal_code
    }
    pub fn country(&self) -> &str {
        &self.country
    }
}

/// The contract's rule for free text: 1–100 characters, no control characters or line breaks.
pub(crate) fn check_text(field: &'static str, value: &str) -> Result<(), InvalidEvent> {
    if value.is_empty() {
        return Err(InvalidEvent::InvalidText { field, problem: "must not be empty" });
    }
    if value.chars().count() > MAX_ADDRESS_FIELD_CHARS {
        return Err(InvalidEvent::InvalidText { field, problem: "must be at most 100 characters" });
    }
    // Control characters include \n, \r, \t and NEL; U+2028/U+2029 are the other line breaks.
    if value.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) {
        return Err(InvalidEvent::InvalidText { field, problem: "must not contain control characters or line breaks" });
    }
    Ok(())
}

impl TryFrom<ShippingAddressWire> for ShippingAddress {
    type Error = InvalidEvent;
    fn try_from(wire: ShippingAddressWire) -> Result<Self, Self::Error> {
        ShippingAddress::new(wire.line1, wire.line2, wire.city, wire.postal_code, wire.country)
    }
}

impl JsonSchema for ShippingAddress {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        ShippingAddressWire::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        ShippingAddressWire::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_plain_address_and_rejects_each_broken_rule() {
        assert!(ShippingAddress::new("1 Main St", None, "Lyon", "69001", "FR").is_ok());
        let long = "x".repeat(101);
        let cases = [
            ("", "Lyon", "69001", "FR"),
            ("1 Main St\n", "Lyon", "69001", "FR"),
            ("1 Main St", long.as_str(), "69001", "FR"),
            ("1 Main St", "Lyon", "", "FR"),
            ("1 Main St", "Lyon", "69001", "fr"),
            ("1 Main St", "Lyon", "69001", "FRA"),
        ];
        for (line1, city, postal, country) in cases {
            assert!(
                ShippingAddress::new(line1, None, city, postal, country).is_err(),
                "{line1:?} {city:?} {country:?}"
            );
        }
        assert!(ShippingAddress::new("1 Main St", Some("\u{7}".into()), "Lyon", "69001", "FR").is_err());
        assert!(ShippingAddress::new("1 Main St", Some("a\u{2028}b".into()), "Lyon", "69001", "FR").is_err());
    }
}
