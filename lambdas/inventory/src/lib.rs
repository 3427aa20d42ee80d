//! Reserves stock for placed orders.
