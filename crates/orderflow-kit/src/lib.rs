//! The small things every orderflow crate does, done one way.
//!
//! - [`env`]: configuration from environment variables. A function reads all of its settings at
//!   start-up and fails naming *every* missing or invalid variable, so one failed deploy shows
//!   everything it lacks.
//! - [`aws`]: the timeouts and retries of every AWS client, derived from the function timeout
//!   (the SDK configuration itself with feature `aws`).
//! - [`clock`]: the time source behind a port, so tests can drive expiry and ages.
//! - [`dynamodb`] (feature `dynamodb`): attribute helpers, typed reads of stored items with
//!   errors that say which attribute is wrong, the JSON mapping, and "conditional put, else
//!   read the winner", the idiom every one-record-per-order table uses.
//!
//! Money is shown by `orderflow_events::Money`'s `Display`, next to the type itself.

pub mod aws;
pub mod clock;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod env;

pub use clock::{Clock, SystemClock};
pub use env::{Env, EnvError};
