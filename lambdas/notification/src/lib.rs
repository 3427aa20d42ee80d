//! Sends the order confirmation email.
