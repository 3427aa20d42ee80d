//! Test support for this crate's tests and benchmarks (feature `testing`): an in-memory wiring
//! of the API and requests shaped like API Gateway REST proxy events.
// Test builders: a bad input is a bug in the test, so they fail loudly.
#![allow(clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response};
use orderflow_kit::clock::ManualClock;
use orderflow_outbox::adapters::memory::RecordingPublisher;
use orderflow_outbox::metrics::RecordingMetrics;
use serde_json::{Map, Value, json};

use crate::OrderApi;
use crate::adapters::memory::{InMemoryEventHistory, InMemoryStore, SequentialIds};
use crate::domain::SupportedCurrencies;
use crate::service::Dependencies;

/// `requestContext.requestId` of every event built here.
pub const API_GATEWAY_REQUEST_ID: &str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef";
/// The clock's start: 2026-11-18T11:06:40.123Z.
pub const START_MILLIS: i64 = 1_795_000_000_123;

/// The API wired to in-memory adapters, with handles on each for assertions.
pub struct Harness {
    pub api: OrderApi,
    pub store: Arc<InMemoryStore>,
    pub publisher: Arc<RecordingPublisher>,
    /// The EMF documents the API emitted.
    pub metrics: Arc<RecordingMetrics>,
    pub clock: Arc<ManualClock>,
    pub ids: Arc<SequentialIds>,
    pub events: Arc<InMemoryEventHistory>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        let store = Arc::new(InMemoryStore::new());
        let publisher = Arc::new(RecordingPublisher::new());
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp_millis(START_MILLIS).unwrap_or_else(Utc::now)));
        let ids = Arc::new(SequentialIds::default());
        let events = Arc::new(InMemoryEventHistory::new());
        let metrics = Arc::new(RecordingMetrics::new());
        let deps = Dependencies {
            store: store.clone(),
            outbox: store.outbox(),
            publisher: publisher.clone(),
            metrics: metrics.clone(),
            clock: clock.clone(),
            ids: ids.clone(),
            events: events.clone(),
        };
        Harness {
            api: OrderApi::new(deps, SupportedCurrencies::default()),
            store,
            publisher,
            metrics,
            clock,
            ids,
            events,
        }
    }

    /// Calls the handler; it never returns `Err` (every failure is a response).
    pub async fn call(&self, request: Request) -> Response<Body> {
        match self.api.handle(request).await {
            Ok(response) => response,
            Err(error) => panic!("the handler returned an error instead of a response: {error}"),
        }
    }
}

/// The contract's example body.
pub fn contract_body() -> Value {
    json!({
        "customer": { "id": "cus_1001", "email": "ada@example.com", "name": "Ada Lovelace" },
        "currency": "EUR",
        "items": [ { "sku": "BOOK-0001", "quantity": 2, "unitPrice": 1999 } ]
    })
}

/// A REST API (v1) Lambda proxy event for `ANY /{proxy+}` on stage `prod`, as API Gateway sends
/// it, turned into a request the way the runtime does.
pub fn proxy_event(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Request {
    event(method, "", path, headers, body.map(str::to_owned), false)
}

/// As [`proxy_event`], through a custom domain whose base path mapping adds `base_path` to the
/// event's `path` (the `proxy` path parameter stays relative to the API).
pub fn proxy_event_via_base_path(method: &str, base_path: &str, path: &str, headers: &[(&str, &str)]) -> Request {
    event(method, base_path, path, headers, None, false)
}

pub fn post_orders(body: &str, headers: &[(&str, &str)]) -> Request {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    proxy_event("POST", "/orders", &all, Some(body))
}

/// As API Gateway sends a body it treats as binary: base64 with `isBase64Encoded`.
pub fn post_orders_base64(body: &str, headers: &[(&str, &str)]) -> Request {
    event("POST", "", "/orders", headers, Some(base64(body.as_bytes())), true)
}

fn event(
    method: &str,
    base_path: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
    is_base64: bool,
) -> Request {
    let header_map: Map<String, Value> =
        headers.iter().map(|(name, value)| ((*name).to_owned(), Value::String((*value).to_owned()))).collect();
    let multi: Map<String, Value> = headers.iter().map(|(name, value)| ((*name).to_owned(), json!([value]))).collect();
    let (resource, path_parameters) = match path.strip_prefix('/') {
        Some("") | None => ("/", Value::Null),
        Some(proxy) => ("/{proxy+}", json!({ "proxy": proxy })),
    };
    let event = json!({
        "resource": resource,
        "path": format!("{base_path}{path}"),
        "httpMethod": method,
        "headers": header_map,
        "multiValueHeaders": multi,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": path_parameters,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "us4z18",
            "stage": "prod",
            "requestId": API_GATEWAY_REQUEST_ID,
            "requestTimeEpoch": 1_795_000_000_000_i64,
            "identity": { "sourceIp": "192.0.2.1", "userAgent": "tests" },
            "resourcePath": resource,
            "httpMethod": method,
            "path": format!("{base_path}/prod{path}"),
            "apiId": "wt6mne2s9k"
        },
        "body": body,
        "isBase64Encoded": is_base64
    });
    match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(error) => panic!("not an API Gateway proxy event: {error}"),
    }
}

/// Standard base64 with padding (only tests need to encode).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|value| value.to_str().ok())
}

pub fn body_text(response: &Response<Body>) -> String {
    String::from_utf8_lossy(response.body().as_ref()).into_owned()
}

pub fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null)
}

/// Checks the RFC 9457 shape every error has, and returns the problem.
pub fn assert_problem(response: &Response<Body>, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "body: {}", body_text(response));
    assert_eq!(header(response, "content-type"), Some("application/problem+json"));
    let problem = body_json(response);
    for field in ["type", "title", "detail"] {
        assert!(problem[field].as_str().is_some_and(|text| !text.is_empty()), "{field} in {problem}");
    }
    assert_eq!(problem["status"], status, "{problem}");
    problem
}
