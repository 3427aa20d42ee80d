use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An ISO 4217 alphabetic code: three upper-case ASCII letters.
///
/// Which codes a service accepts is that service's business (the order API has a supported list);
/// the event contract only fixes the shape.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

// By hand rather than `try_from = "String"`: reading the code from a `&str` saves an allocation
// per currency on the decode path.
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CurrencyVisitor;
        impl serde::de::Visitor<'_> for CurrencyVisitor {
            type Value = Currency;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an ISO 4217 currency code")
            }
            fn visit_str<E: serde::de::Error>(self, code: &str) -> Result<Currency, E> {
                code.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(CurrencyVisitor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency must be an ISO 4217 code of three upper-case letters, got {0:?}")]
pub struct InvalidCurrency(pub String);

impl Currency {
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Digits after the decimal point of the currency's minor unit (ISO 4217). Most have two;
    /// these are the exceptions in use today.
    pub fn minor_unit_exponent(self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
            | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            "CLF" | "UYW" => 4,
            _ => 2,
        }
    }
}

impl FromStr for Currency {
    type Err = InvalidCurrency;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Currency([a, b, c])),
            _ => Err(InvalidCurrency(code.to_owned())),
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        code.parse()
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "ISO 4217 alphabetic currency code.",
            "type": "string",
            "pattern": "^[A-Z]{3}$"
        })
    }
}

/// An amount of money in integer minor units (cents, pence) of a currency. Never floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    /// Integer minor units of `currency`.
    pub amount: u64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: u64, currency: Currency) -> Self {
        Money { amount, currency }
    }
}

/// The one way money is shown to people: the currency code and a decimal amount with the
/// currency's own number of minor digits (`EUR 39.98`, `JPY 3998`, `KWD 1.250`). Integer
/// arithmetic only: money never goes through floating point.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = self.currency.minor_unit_exponent();
        if exponent == 0 {
            return write!(f, "{} {}", self.currency, self.amount);
        }
        let scale = 10u64.pow(exponent);
        let (units, minor) = (self.amount / scale, self.amount % scale);
        write!(f, "{} {units}.{minor:0width$}", self.currency, width = exponent as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount: u64, code: &str) -> String {
        Money::new(amount, code.parse().expect("a currency code")).to_string()
    }

    #[test]
    fn shows_the_currency_s_own_minor_digits() {
        assert_eq!(money(3998, "EUR"), "EUR 39.98");
        assert_eq!(money(5, "USD"), "USD 0.05");
        assert_eq!(money(3998, "JPY"), "JPY 3998");
        assert_eq!(money(1250, "KWD"), "KWD 1.250");
        assert_eq!(money(10_000, "CLF"), "CLF 1.0000");
        assert_eq!(money(u64::MAX, "GBP"), "GBP 184467440737095516.15");
    }
}
