//! The HTTP adapter: API Gateway REST proxy requests in, responses out.
//!
//! API Gateway sends every path (`ANY /` and `ANY /{proxy+}`) here, so this module routes.
//! Checks run in this order, and the first failure answers:
//!
//! 1. route: `/orders`, `/orders/{uuid}` or `/orders/{uuid}/events`, else 404 (a non-UUID id is
//!    an unknown order: 404);
//! 2. method: POST on `/orders`, GET on `/orders/{id}` and `/orders/{id}/events`, else 405 with
//!    `Allow`;
//! 3. (POST) `Content-Type` is `application/json` or `application/*+json`, else 415;
//! 4. (POST) body at most 64 KiB after base64 decoding, else 413;
//! 5. (POST) body is UTF-8 JSON and an object, else 400;
//! 6. (POST) the `Idempotency-Key` header and every body rule, reported together, else 422;
//! 7. (POST) same key, different body: 422.
//!
//! Every error is `application/problem+json`. Internal failures are logged with their cause and
//! answered with a generic 500: no AWS message or internal name reaches the client.

use std::sync::Arc;

use lambda_http::http::header::{ALLOW, CONTENT_TYPE, LOCATION};
use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::Value;
use tracing::{Instrument, error, info, info_span, warn};
use uuid::Uuid;

use crate::domain::{FieldError, IdempotencyKey, SupportedCurrencies, is_token, request_hash, validate_order};
use crate::ports::EventSummary;
use crate::ports::StoredResponse;
use crate::service::{Dependencies, OrderService, PlaceOrder, PlaceOrderError, Placed};

/// The contract's body limit: 64 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const CORRELATION_ID_HEADER: &str = "x-correlation-id";
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";
const MAX_CORRELATION_ID_CHARS: usize = 128;
const PROBLEM_JSON: &str = "application/problem+json";

/// The order API: one per Lambda process, shared by every invocation.
pub struct OrderApi {
    service: OrderService,
    currencies: SupportedCurrencies,
}

/// An HTTP error, turned into an RFC 9457 problem.
#[derive(Debug)]
pub enum ApiError {
    NotFound(&'static str),
    MethodNotAllowed(&'static str),
    UnsupportedMediaType,
    PayloadTooLarge,
    MalformedJson(&'static str),
    Validation(Vec<FieldError>),
    IdempotencyKeyReused,
    /// The cause is logged where it happens; the client learns nothing about it.
    Internal,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    problem_type: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn into_response(self) -> Response<Body> {
        let status = self.status();
        let (problem_type, title, detail): (&str, &str, String) = match &self {
            ApiError::NotFound(detail) => ("about:blank", "Not Found", (*detail).to_owned()),
            ApiError::MethodNotAllowed(allow) => {
                ("about:blank", "Method Not Allowed", format!("this resource supports only {allow}"))
            }
            ApiError::UnsupportedMediaType => (
                "about:blank",
                "Unsupported Media Type",
                "the request body must be JSON (Content-Type: application/json)".to_owned(),
            ),
            ApiError::PayloadTooLarge => {
                ("about:blank", "Content Too Large", format!("the request body must be at most {MAX_BODY_BYTES} bytes"))
            }
            ApiError::MalformedJson(detail) => ("about:blank", "Bad Request", (*detail).to_owned()),
            ApiError::Validation(errors) => (
                "urn:orderflow:problem:validation-failed",
                "The order is invalid",
                format!("{} field(s) break the order rules; see errors", errors.len()),
            ),
            ApiError::IdempotencyKeyReused => (
                "urn:orderflow:problem:idempotency-key-reused",
                "Idempotency key reused",
                "this Idempotency-Key was already used with a different request body".to_owned(),
            ),
            ApiError::Internal => (
                "about:blank",
                "Internal Server Error",
                "the request could not be processed; it is safe to retry with the same Idempotency-Key".to_owned(),
            ),
        };
        // The reused key is named like any other bad field, so clients handle both 422s alike.
        let reused_key = [FieldError::new("Idempotency-Key", "was already used with a different request body")];
        let errors = match &self {
            ApiError::Validation(errors) => Some(errors.as_slice()),
            ApiError::IdempotencyKeyReused => Some(&reused_key[..]),
            _ => None,
        };
        let problem = Problem { problem_type, title, status: status.as_u16(), detail: &detail, errors };
        let mut response = response(status, PROBLEM_JSON, serde_json::to_string(&problem).unwrap_or_default());
        if let ApiError::MethodNotAllowed(allow) = self {
            response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

enum Route {
    Orders,
    Order(Uuid),
    OrderEvents(Uuid),
}

/// The body of GET /orders/{orderId}/events.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderEvents<'a> {
    order_id: Uuid,
    events: Vec<EventView<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventView<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    id: &'a str,
    source: &'a str,
    time: &'a str,
    /// `null` when the event carries none.
    correlation_id: Option<&'a str>,
}

impl<'a> From<&'a EventSummary> for EventView<'a> {
    fn from(event: &'a EventSummary) -> Self {
        EventView {
            event_type: &event.event_type,
            id: &event.id,
            source: &event.source,
            time: &event.time,
            correlation_id: event.correlation_id.as_deref(),
        }
    }
}

impl OrderApi {
    pub fn new(deps: Dependencies, currencies: SupportedCurrencies) -> Self {
        OrderApi { service: OrderService::new(deps), currencies }
    }

    /// The Lambda handler. Never fails: every outcome, internal errors included, is a response.
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, lambda_http::Error> {
        let correlation_id = correlation_id(&request);
        let path = route_path(&request);
        let span = info_span!("request", correlation_id = %correlation_id, method = %request.method(), path = %path);
        let mut response = self
            .route(request, &path, &correlation_id)
            .instrument(span.clone())
            .await
            .unwrap_or_else(ApiError::into_response);
        span.in_scope(|| info!(status = response.status().as_u16(), "responded"));
        if let Ok(value) = HeaderValue::from_str(&correlation_id) {
            response.headers_mut().insert(CORRELATION_ID_HEADER, value);
        }
        Ok(response)
    }

    async fn route(&self, request: Request, path: &str, correlation_id: &str) -> Result<Response<Body>, ApiError> {
        let route = match path.trim_end_matches('/').strip_prefix("/orders") {
            Some("") => Route::Orders,
            Some(rest) => {
                let order_id = |id: &str| Uuid::parse_str(id).map_err(|_| ApiError::NotFound("no such order"));
                match rest.strip_prefix('/').map(|tail| tail.split_once('/').unwrap_or((tail, ""))) {
                    Some((id, "")) if !id.is_empty() => Route::Order(order_id(id)?),
                    Some((id, "events")) => Route::OrderEvents(order_id(id)?),
                    _ => return Err(ApiError::NotFound("no such resource")),
                }
            }
            None => return Err(ApiError::NotFound("no such resource")),
        };
        match (route, request.method()) {
            (Route::Orders, &Method::POST) => self.place_order(request, correlation_id).await,
            (Route::Orders, _) => Err(ApiError::MethodNotAllowed("POST")),
            (Route::Order(order_id), &Method::GET) => self.get_order(order_id).await,
            (Route::Order(_), _) => Err(ApiError::MethodNotAllowed("GET")),
            (Route::OrderEvents(order_id), &Method::GET) => self.get_order_events(order_id).await,
            (Route::OrderEvents(_), _) => Err(ApiError::MethodNotAllowed("GET")),
        }
    }

    async fn get_order_events(&self, order_id: Uuid) -> Result<Response<Body>, ApiError> {
        match self.service.order_events(order_id).await {
            Ok(Some(events)) => {
                let body = OrderEvents { order_id, events: events.iter().map(EventView::from).collect() };
                Ok(response(StatusCode::OK, "application/json", serde_json::to_string(&body).unwrap_or_default()))
            }
            Ok(None) => Err(ApiError::NotFound("no such order")),
            Err(error) => {
                error!(%order_id, error = %orderflow_observability::ErrorChain(&error), "reading the order's events failed");
                Err(ApiError::Internal)
            }
        }
    }

    async fn get_order(&self, order_id: Uuid) -> Result<Response<Body>, ApiError> {
        match self.service.find_order(order_id).await {
            Ok(Some(order)) => Ok(response(StatusCode::OK, "application/json", order.to_json())),
            Ok(None) => Err(ApiError::NotFound("no such order")),
            Err(error) => {
                error!(%order_id, error = %orderflow_observability::ErrorChain(&error), "reading the order failed");
                Err(ApiError::Internal)
            }
        }
    }

    async fn place_order(&self, request: Request, correlation_id: &str) -> Result<Response<Body>, ApiError> {
        if !is_json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // lambda_http has already decoded a base64-encoded body, so this is the real size.
        let bytes: &[u8] = request.body().as_ref();
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        let body: Value =
            serde_json::from_slice(bytes).map_err(|_| ApiError::MalformedJson("the request body is not valid JSON"))?;
        let Value::Object(fields) = &body else {
            return Err(ApiError::MalformedJson("the request body must be a JSON object"));
        };

        let mut errors = Vec::new();
        let key = match request.headers().get(IDEMPOTENCY_KEY_HEADER) {
            None => None,
            // A header with bytes outside visible ASCII has no `&str`; the replacement character
            // is outside the key alphabet too, so it gets the same error.
            Some(value) => match IdempotencyKey::parse(value.to_str().unwrap_or("\u{FFFD}")) {
                Ok(key) => Some(key),
                Err(error) => {
                    errors.push(error);
                    None
                }
            },
        };
        let order = validate_order(fields, &self.currencies);
        let order = match order {
            Ok(order) if errors.is_empty() => order,
            Ok(_) => return Err(ApiError::Validation(errors)),
            Err(field_errors) => {
                errors.extend(field_errors);
                return Err(ApiError::Validation(errors));
            }
        };

        let traceparent = request
            .lambda_context_ref()
            .and_then(|context| context.xray_trace_id.as_deref())
            .and_then(orderflow_observability::traceparent_from_xray);
        let command = PlaceOrder {
            request: order,
            idempotency: key.map(|key| (key, request_hash(&body))),
            correlation_id,
            traceparent: traceparent.as_deref(),
        };
        match self.service.place_order(command).await {
            Ok(Placed::Created(stored)) => Ok(stored_response(stored, false)),
            Ok(Placed::Replayed(stored)) => Ok(stored_response(stored, true)),
            Err(PlaceOrderError::KeyReusedWithDifferentRequest) => {
                warn!("idempotency key reused with a different body");
                Err(ApiError::IdempotencyKeyReused)
            }
            Err(error) => {
                error!(error = %orderflow_observability::ErrorChain(&error), "placing the order failed");
                Err(ApiError::Internal)
            }
        }
    }
}

/// Wraps the API in an `Arc` for `service_fn`, which needs a `'static` handler.
pub async fn handle_shared(api: Arc<OrderApi>, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    api.handle(request).await
}

fn stored_response(stored: StoredResponse, replayed: bool) -> Response<Body> {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::CREATED);
    let mut response = response(status, "application/json", stored.body);
    if let Ok(location) = HeaderValue::from_str(&stored.location) {
        response.headers_mut().insert(LOCATION, location);
    }
    if replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

fn response(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The path relative to the API: `/orders`, never `/prod/orders` or `/base-path/orders`.
///
/// For the `/{proxy+}` resource the `proxy` path parameter is exactly that, whatever custom
/// domain, base path mapping or stage the request came through (the event's `path` keeps the
/// base path, and on a custom domain without a mapped stage also the stage).
fn route_path(request: &Request) -> String {
    #[allow(unreachable_patterns)] // other variants exist only with other lambda_http features
    let resource = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.resource_path.as_deref(),
        _ => None,
    };
    match resource {
        Some("/") => return "/".to_owned(),
        Some("/{proxy+}") => {
            if let Some(proxy) = request.path_parameters_ref().and_then(|parameters| parameters.first("proxy")) {
                return format!("/{proxy}");
            }
        }
        _ => {}
    }
    let raw = request.raw_http_path();
    if raw.is_empty() { request.uri().path().to_owned() } else { raw.to_owned() }
}

/// `application/json` or `application/<anything>+json`, any parameters (`; charset=utf-8`).
fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(media_type) = headers.get(CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", subtype)) => subtype == "json" || (subtype.ends_with("+json") && subtype.len() > 5),
        _ => false,
    }
}

/// The caller's `X-Correlation-Id` if it is safe to echo and log, else API Gateway's request id,
/// else the Lambda request id, else a fresh one.
fn correlation_id(request: &Request) -> String {
    let from_header = request
        .headers()
        .get(CORRELATION_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_token(value, MAX_CORRELATION_ID_CHARS));
    if let Some(id) = from_header {
        return id.to_owned();
    }
    #[allow(unreachable_patterns)] // other variants exist only with other lambda_http features
    let from_gateway = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.request_id.clone(),
        _ => None,
    };
    from_gateway
        .filter(|id| !id.is_empty())
        .or_else(|| request.lambda_context_ref().map(|context| context.request_id.clone()).filter(|id| !id.is_empty()))
        .unwrap_or_else(|| Uuid::now_v7().to_string())
}
