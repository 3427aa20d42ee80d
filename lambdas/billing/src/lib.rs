//! Charges the customer for placed orders.
