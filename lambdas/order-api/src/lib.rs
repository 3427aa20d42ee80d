//! The order service: POST /orders and GET /orders/{id}, with its store and outbox.
