//! Strict RFC 3339 parsing for the contract's timestamps.
//!
//! chrono's own `Deserialize` for `DateTime<Utc>` goes through its lenient `FromStr`, which also
//! takes forms RFC 3339 does not allow (extra spaces, `UTC` suffixes). The contract says RFC 3339,
//! and the JSON Schema says `format: date-time`, so the decoder accepts exactly that: a full date,
//! time and offset. Any offset is accepted and normalised to UTC, because it names the same instant
//! and dead-lettering an otherwise valid order over `+01:00` helps nobody; producers always send `Z`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, Visitor};

/// A timestamp read with [`deserialize`]: lets `Option<Rfc3339>` fields use the strict parser.
pub(crate) struct Rfc3339(pub(crate) DateTime<Utc>);

impl<'de> de::Deserialize<'de> for Rfc3339 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize(deserializer).map(Rfc3339)
    }
}

/// `deserialize_with` for a `DateTime<Utc>` field.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(Rfc3339Visitor)
}

struct Rfc3339Visitor;

impl Visitor<'_> for Rfc3339Visitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an RFC 3339 date-time")
    }

    // `visit_str` serves both borrowed and escaped strings, so no allocation either way.
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        DateTime::parse_from_rfc3339(value)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|error| E::custom(format_args!("{value:?} is not an RFC 3339 date-time: {error}")))
    }
}
