//! The HTTP contract (`docs/contracts/http-api.md`), tested through the Lambda handler with
//! requests shaped like API Gateway REST proxy events and in-memory adapters.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use order_api::testing as support;

use chrono::TimeDelta;
use lambda_http::RequestExt;
use order_api::testing::{Harness, body_json, contract_body, header, post_orders, proxy_event};
use serde_json::{Value, json};

#[tokio::test]
async fn post_creates_the_order_and_publishes_the_event() {
    let harness = Harness::new();
    let request = proxy_event(
        "POST",
        "/orders",
        &[("Content-Type", "application/json"), ("X-Correlation-Id", "req-7f3c2a")],
        Some(&contract_body().to_string()),
    );
    let mut context = lambda_http::Context::default();
    context.request_id = "lambda-request-1".into();
    context.xray_trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into());
    let response = harness.call(request.with_lambda_context(context)).await;

    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert_eq!(header(&response, "x-correlation-id"), Some("req-7f3c2a"));
    assert_eq!(header(&response, "idempotent-replayed"), None);
    let order = body_json(&response);
    let order_id = order["orderId"].as_str().expect("orderId").to_owned();
    assert_eq!(header(&response, "location"), Some(format!("/orders/{order_id}").as_str()));
    assert_eq!(uuid::Uuid::parse_str(&order_id).expect("uuid").get_version_num(), 7);
    assert_eq!(
        order,
        json!({
            "orderId": order_id,
            "status": "PLACED",
            "customer": { "id": "cus_1001", "email": "ada@example.com", "name": "Ada Lovelace" },
            "items": [ { "sku": "BOOK-0001", "quantity": 2, "unitPrice": 1999 } ],
            "currency": "EUR",
            "total": 3998,
            "placedAt": "2026-11-18T11:06:40.123Z"
        })
    );

    assert_eq!(harness.store.order_count(), 1);
    let published = harness.publisher.published();
    assert_eq!(published.len(), 1);
    assert_eq!(
        published[0].attributes,
        [("event_type".to_owned(), "OrderPlaced".to_owned()), ("event_version".to_owned(), "1".to_owned())]
    );
    let (event, _) = orderflow_events::decode_message(&published[0].body).expect("a valid OrderPlaced v1");
    assert_eq!(event.order_id().to_string(), order_id);
    assert_eq!(event.correlation_id(), Some("req-7f3c2a"));
    assert_eq!(event.traceparent(), Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"));
    let outbox = harness.store.outbox_entries();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].entry.event_id, event.id());
    assert!(outbox[0].published_at.is_some(), "entry completed after the publish");
    assert_eq!(outbox[0].expires_at, outbox[0].published_at.map(|at| at + TimeDelta::days(7)));
}

#[tokio::test]
async fn correlation_id_falls_back_to_the_api_gateway_request_id() {
    let harness = Harness::new();
    for headers in [vec![], vec![("X-Correlation-Id", "has spaces and ; semicolons")]] {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend(headers);
        let response = harness.call(proxy_event("POST", "/orders", &all, Some(&contract_body().to_string()))).await;
        assert_eq!(response.status(), 201);
        assert_eq!(header(&response, "x-correlation-id"), Some(support::API_GATEWAY_REQUEST_ID));
    }
    let published = harness.publisher.published();
    let (event, _) = orderflow_events::decode_message(&published[1].body).expect("event");
    assert_eq!(event.correlation_id(), Some(support::API_GATEWAY_REQUEST_ID));
    // Errors carry it too.
    let response = harness.call(proxy_event("GET", "/nowhere", &[], None)).await;
    assert_eq!(header(&response, "x-correlation-id"), Some(support::API_GATEWAY_REQUEST_ID));
}

#[tokio::test]
async fn get_returns_the_stored_order_or_404() {
    let harness = Harness::new();
    let created = harness.call(post_orders(&contract_body().to_string(), &[])).await;
    let order = body_json(&created);
    let location = header(&created, "location").expect("location").to_owned();

    let found = harness.call(proxy_event("GET", &location, &[], None)).await;
    assert_eq!(found.status(), 200);
    assert_eq!(header(&found, "content-type"), Some("application/json"));
    assert_eq!(body_json(&found), order);

    let unknown = format!("/orders/{}", uuid::Uuid::now_v7());
    for path in [unknown.as_str(), "/orders/not-a-uuid", "/orders/0193a5d2"] {
        let response = harness.call(proxy_event("GET", path, &[], None)).await;
        support::assert_problem(&response, 404);
    }
}

#[tokio::test]
async fn routes_on_the_api_relative_path_behind_a_base_path_mapping() {
    let harness = Harness::new();
    let created = harness.call(post_orders(&contract_body().to_string(), &[])).await;
    let location = header(&created, "location").expect("location").to_owned();
    let found = harness.call(support::proxy_event_via_base_path("GET", "/v1", &location, &[])).await;
    assert_eq!(found.status(), 200);
    support::assert_problem(&harness.call(support::proxy_event_via_base_path("GET", "/v1", "/", &[])).await, 404);
}

#[tokio::test]
async fn every_row_of_the_error_table() {
    let valid = contract_body().to_string();
    let mut invalid_rules = contract_body();
    invalid_rules["items"][0]["quantity"] = json!(0);
    invalid_rules["customer"]["email"] = json!("nope");
    let invalid_rules = invalid_rules.to_string();
    let oversized = format!("{}{}", " ".repeat(64 * 1024), valid);
    let json = [("Content-Type", "application/json")];
    let id = uuid::Uuid::now_v7().to_string();
    let order_path = format!("/orders/{id}");

    let cases: Vec<(&str, lambda_http::Request, u16)> = vec![
        ("not JSON", post_orders("{\"customer\": ", &[]), 400),
        ("empty body", post_orders("", &[]), 400),
        ("JSON array", post_orders("[1, 2]", &[]), 400),
        ("JSON string", post_orders("\"order\"", &[]), 400),
        ("rules broken", post_orders(&invalid_rules, &[]), 422),
        ("missing fields", post_orders("{}", &[]), 422),
        ("too large", post_orders(&oversized, &[]), 413),
        ("too large once base64-decoded", support::post_orders_base64(&oversized, &json), 413),
        ("no content type", proxy_event("POST", "/orders", &[], Some(&valid)), 415),
        ("text/plain", proxy_event("POST", "/orders", &[("Content-Type", "text/plain")], Some(&valid)), 415),
        (
            "form",
            proxy_event("POST", "/orders", &[("Content-Type", "application/x-www-form-urlencoded")], Some(&valid)),
            415,
        ),
        ("unknown order", proxy_event("GET", &order_path, &[], None), 404),
        ("unknown route", proxy_event("GET", "/", &[], None), 404),
        ("unknown route", proxy_event("POST", "/customers", &json, Some(&valid)), 404),
        ("unknown route", proxy_event("GET", &format!("{order_path}/items"), &[], None), 404),
        ("unknown route", proxy_event("GET", "/ordersx", &[], None), 404),
        ("wrong method on /orders", proxy_event("GET", "/orders", &[], None), 405),
        ("wrong method on /orders", proxy_event("PUT", "/orders", &json, Some(&valid)), 405),
        ("wrong method on /orders/{id}", proxy_event("DELETE", &order_path, &[], None), 405),
        ("wrong method on /orders/{id}", proxy_event("POST", &order_path, &json, Some(&valid)), 405),
        ("unknown order's events", proxy_event("GET", &format!("{order_path}/events"), &[], None), 404),
        ("malformed id's events", proxy_event("GET", "/orders/not-a-uuid/events", &[], None), 404),
        ("unknown route", proxy_event("GET", &format!("{order_path}/events/1"), &[], None), 404),
        (
            "wrong method on /orders/{id}/events",
            proxy_event("POST", &format!("{order_path}/events"), &json, Some(&valid)),
            405,
        ),
        ("bad Idempotency-Key", post_orders(&valid, &[("Idempotency-Key", "has space")]), 422),
        ("empty Idempotency-Key", post_orders(&valid, &[("Idempotency-Key", "")]), 422),
    ];
    for (case, request, status) in cases {
        let harness = Harness::new();
        let response = harness.call(request).await;
        let problem = support::assert_problem(&response, status);
        assert_eq!(harness.store.order_count(), 0, "{case}: nothing stored");
        assert_eq!(harness.store.outbox_entries().len(), 0, "{case}: no outbox entry");
        assert_eq!(harness.store.idempotency_record_count(), 0, "{case}: no idempotency record");
        assert!(harness.publisher.published().is_empty(), "{case}: nothing published");
        if status == 405 {
            let allow = header(&response, "allow").expect("Allow header");
            assert!(allow == "POST" || allow == "GET", "{case}: Allow {allow}");
        }
        if status == 422 {
            assert!(!problem["errors"].as_array().expect("errors").is_empty(), "{case}: errors listed");
        }
    }
}

#[tokio::test]
async fn validation_problem_names_every_bad_field() {
    let harness = Harness::new();
    let body = json!({
        "customer": { "id": "cus 1", "email": "ada@example.com" },
        "currency": "JPY",
        "items": [ { "sku": "BOOK-0001", "quantity": 2, "unitPrice": 1999 }, { "sku": "BOOK-0001", "quantity": "2", "unitPrice": 1 } ]
    });
    let response = harness.call(post_orders(&body.to_string(), &[("Idempotency-Key", "bad key!")])).await;
    let problem = support::assert_problem(&response, 422);
    let fields: Vec<&str> =
        problem["errors"].as_array().expect("errors").iter().map(|e| e["field"].as_str().expect("field")).collect();
    assert_eq!(fields, ["Idempotency-Key", "customer.id", "currency", "items[1].sku", "items[1].quantity"]);
    for error in problem["errors"].as_array().expect("errors") {
        assert!(!error["message"].as_str().expect("message").is_empty());
    }
}

#[tokio::test]
async fn content_type_parameters_and_json_suffix_types_are_accepted() {
    for content_type in ["application/json; charset=utf-8", "Application/JSON", "application/vnd.orderflow+json"] {
        let harness = Harness::new();
        let request =
            proxy_event("POST", "/orders", &[("Content-Type", content_type)], Some(&contract_body().to_string()));
        assert_eq!(harness.call(request).await.status(), 201, "{content_type}");
    }
}

#[tokio::test]
async fn the_size_limit_is_exactly_64_kib() {
    let valid = contract_body().to_string();
    let at_limit = format!("{}{}", " ".repeat(64 * 1024 - valid.len()), valid);
    assert_eq!(at_limit.len(), 65_536);
    let harness = Harness::new();
    assert_eq!(harness.call(post_orders(&at_limit, &[])).await.status(), 201);
    let over = format!(" {at_limit}");
    support::assert_problem(&harness.call(post_orders(&over, &[])).await, 413);
    // A base64-encoded body counts after decoding: 87 KiB of base64 is a 64 KiB body.
    let json = [("Content-Type", "application/json")];
    assert_eq!(harness.call(support::post_orders_base64(&at_limit, &json)).await.status(), 201);
}

#[tokio::test]
async fn check_precedence_route_method_type_size_json_rules() {
    let harness = Harness::new();
    let huge_garbage = "x".repeat(70_000);
    // Wrong method beats a bad content type and a huge body.
    let response =
        harness.call(proxy_event("PUT", "/orders", &[("Content-Type", "text/plain")], Some(&huge_garbage))).await;
    support::assert_problem(&response, 405);
    // Content type beats size.
    let response =
        harness.call(proxy_event("POST", "/orders", &[("Content-Type", "text/plain")], Some(&huge_garbage))).await;
    support::assert_problem(&response, 415);
    // Size beats JSON syntax.
    support::assert_problem(&harness.call(post_orders(&huge_garbage, &[])).await, 413);
    // JSON syntax beats a bad Idempotency-Key.
    support::assert_problem(&harness.call(post_orders("{", &[("Idempotency-Key", "bad key")])).await, 400);
}

#[tokio::test]
async fn errors_never_leak_internals() {
    let harness = Harness::new();
    harness.store.fail_everything(true);
    let post = harness.call(post_orders(&contract_body().to_string(), &[("Idempotency-Key", "k-1")])).await;
    let get = harness.call(proxy_event("GET", &format!("/orders/{}", uuid::Uuid::now_v7()), &[], None)).await;
    for response in [post, get] {
        let problem = support::assert_problem(&response, 500);
        let text = problem.to_string();
        for secret in ["injected", "Dynamo", "Store", "backend", "panicked"] {
            assert!(!text.contains(secret), "{text} leaks {secret}");
        }
    }
    assert!(harness.publisher.published().is_empty());
}

#[tokio::test]
async fn a_replay_returns_the_first_response_without_a_second_order() {
    let harness = Harness::new();
    let key = [("Idempotency-Key", "checkout-42:attempt.1")];
    let first = harness.call(post_orders(&contract_body().to_string(), &key)).await;
    assert_eq!(first.status(), 201);
    harness.clock.advance(TimeDelta::minutes(5));

    // Same JSON, other key order and whitespace: the same request.
    let reordered = r#"{ "items": [ { "unitPrice": 1999, "quantity": 2, "sku": "BOOK-0001" } ], "currency": "EUR",
        "customer": { "name": "Ada Lovelace", "email": "ada@example.com", "id": "cus_1001" } }"#;
    let replay = harness.call(post_orders(reordered, &key)).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(header(&replay, "idempotent-replayed"), Some("true"));
    assert_eq!(header(&replay, "location"), header(&first, "location"));
    assert_eq!(support::body_text(&replay), support::body_text(&first));
    assert_eq!(harness.store.order_count(), 1);
    assert_eq!(harness.publisher.published().len(), 1);

    let mut different = contract_body();
    different["items"][0]["quantity"] = json!(3);
    let mismatch = harness.call(post_orders(&different.to_string(), &key)).await;
    let problem = support::assert_problem(&mismatch, 422);
    assert!(problem["type"].as_str().expect("type").contains("idempotency"));
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(harness.store.order_count(), 1);
    assert_eq!(harness.publisher.published().len(), 1);

    // Without the key, the same body is a new order.
    assert_eq!(harness.call(post_orders(&contract_body().to_string(), &[])).await.status(), 201);
    assert_eq!(harness.store.order_count(), 2);
}

#[tokio::test]
async fn an_expired_key_may_be_used_again() {
    let harness = Harness::new();
    let key = [("Idempotency-Key", "k-expiring")];
    let first = body_json(&harness.call(post_orders(&contract_body().to_string(), &key)).await);
    harness.clock.advance(TimeDelta::hours(24) + TimeDelta::seconds(1));
    let second = harness.call(post_orders(&contract_body().to_string(), &key)).await;
    assert_eq!(second.status(), 201);
    assert_eq!(header(&second, "idempotent-replayed"), None);
    assert_ne!(body_json(&second)["orderId"], first["orderId"]);
    assert_eq!(harness.store.order_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_make_exactly_one_order() {
    let harness = std::sync::Arc::new(Harness::new());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let harness = std::sync::Arc::clone(&harness);
            tokio::spawn(async move {
                harness.call(post_orders(&contract_body().to_string(), &[("Idempotency-Key", "same-key")])).await
            })
        })
        .collect();
    let mut bodies = Vec::new();
    let mut replayed = 0;
    for task in tasks {
        let response = task.await.expect("task");
        assert_eq!(response.status(), 201);
        replayed += usize::from(header(&response, "idempotent-replayed") == Some("true"));
        bodies.push(support::body_text(&response));
    }
    assert_eq!(replayed, 19);
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "every response is the first one");
    assert_eq!(harness.store.order_count(), 1);
    assert_eq!(harness.store.outbox_entries().len(), 1);
    assert_eq!(harness.publisher.published().len(), 1);
}

#[tokio::test]
async fn a_publish_failure_still_answers_201_and_leaves_the_entry_pending() {
    let harness = Harness::new();
    harness.publisher.set_failing(true);
    let response = harness.call(post_orders(&contract_body().to_string(), &[])).await;
    assert_eq!(response.status(), 201);
    let order_id = body_json(&response)["orderId"].clone();
    assert_eq!(harness.store.order_count(), 1);
    let outbox = harness.store.outbox_entries();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].published_at, None, "pending: the relay will publish it");
    assert_eq!(Value::String(outbox[0].entry.subject.clone()), order_id);
    assert!(harness.publisher.published().is_empty());
    // Deferred, and said so: one OutboxPublishDeferred of the order API, naming the event.
    let documents = harness.metrics.documents();
    assert_eq!(documents.len(), 1, "{documents:?}");
    assert_eq!(documents[0]["Service"], "order-api");
    assert_eq!(documents[0]["OutboxPublishDeferred"], 1);
    assert_eq!(documents[0]["eventId"], outbox[0].entry.event_id.to_string());
    assert_eq!(documents[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "orderflow");
}

#[tokio::test]
async fn a_published_order_emits_no_deferral() {
    let harness = Harness::new();
    let response = harness.call(post_orders(&contract_body().to_string(), &[])).await;
    assert_eq!(response.status(), 201);
    assert_eq!(harness.publisher.published().len(), 1);
    assert!(harness.metrics.documents().is_empty());
}

#[tokio::test]
async fn a_shipping_address_is_stored_returned_and_published() {
    let harness = Harness::new();
    let mut body = contract_body();
    let address =
        json!({ "line1": "1 Main St", "line2": "Flat 2", "city": "Lyon", "postalCode": "69001", "country": "FR" });
    body["shippingAddress"] = address.clone();
    let created = harness.call(post_orders(&body.to_string(), &[])).await;
    assert_eq!(created.status(), 201);
    let order = body_json(&created);
    assert_eq!(order["shippingAddress"], address);
    assert_eq!(order["status"], "PLACED");

    let location = header(&created, "location").expect("location").to_owned();
    let found = body_json(&harness.call(proxy_event("GET", &location, &[], None)).await);
    assert_eq!(found, order);

    let published = harness.publisher.published();
    let (event, _) = orderflow_events::decode_message(&published[0].body).expect("a valid OrderPlaced v1");
    let orderflow_events::OrderEvent::OrderPlacedV1(placed) = event else { panic!("not OrderPlaced: {event:?}") };
    let on_event = placed.data().shipping_address().expect("address on the event");
    assert_eq!((on_event.line2(), on_event.postal_code()), (Some("Flat 2"), "69001"));
}

#[tokio::test]
async fn broken_free_text_or_address_is_a_422_and_stores_nothing() {
    let mut bad_name = contract_body();
    bad_name["customer"]["name"] = json!("Ada\r\nBcc: everyone@example.com");
    let mut bad_address = contract_body();
    bad_address["shippingAddress"] =
        json!({ "line1": "1 Main St\n2nd line", "city": "", "postalCode": "69001", "country": "fr" });
    let cases = [
        (bad_name, vec!["customer.name"]),
        (bad_address, vec!["shippingAddress.line1", "shippingAddress.city", "shippingAddress.country"]),
    ];
    for (body, expected) in cases {
        let harness = Harness::new();
        let response = harness.call(post_orders(&body.to_string(), &[("Idempotency-Key", "k-bad-text")])).await;
        let problem = support::assert_problem(&response, 422);
        let fields: Vec<&str> =
            problem["errors"].as_array().expect("errors").iter().map(|e| e["field"].as_str().expect("field")).collect();
        assert_eq!(fields, expected);
        assert_eq!(harness.store.order_count(), 0);
        assert_eq!(harness.store.idempotency_record_count(), 0);
        assert_eq!(harness.store.outbox_entries().len(), 0);
        assert!(harness.publisher.published().is_empty());
    }
}

#[tokio::test]
async fn get_shows_the_settled_status_and_the_reason_of_a_cancellation() {
    use order_api::domain::OrderStatus;
    use order_api::lifecycle::LifecycleState;
    use orderflow_events::CancellationReason;
    use orderflow_kit::Clock;

    let harness = Harness::new();
    for (status, reason) in
        [(OrderStatus::Confirmed, None), (OrderStatus::Cancelled, Some(CancellationReason::OutOfStock))]
    {
        let created = harness.call(post_orders(&contract_body().to_string(), &[])).await;
        assert_eq!(body_json(&created)["status"], "PLACED");
        let order_id = uuid::Uuid::parse_str(body_json(&created)["orderId"].as_str().expect("id")).expect("uuid");
        let record = harness.store.record(order_id).expect("read").expect("stored");
        assert_eq!(record.bookkeeping.version, 1);
        let next = record.with_state(LifecycleState { status, reason, ..record.state() }, harness.clock.now());
        assert!(harness.store.replace_if_version(1, &next, None).expect("write"));

        let location = header(&created, "location").expect("location").to_owned();
        let found = body_json(&harness.call(proxy_event("GET", &location, &[], None)).await);
        assert_eq!(found["status"], status.as_str());
        match reason {
            Some(reason) => assert_eq!(found["statusReason"], reason.as_str()),
            None => assert!(found.get("statusReason").is_none(), "{found}"),
        }
        assert!(found.get("version").is_none(), "bookkeeping stays internal: {found}");
    }
}

fn summary(event_type: &str, id: &str, time: &str, correlation_id: Option<&str>) -> order_api::ports::EventSummary {
    order_api::ports::EventSummary {
        event_type: event_type.into(),
        id: id.into(),
        source: "order-api".into(),
        time: time.into(),
        correlation_id: correlation_id.map(str::to_owned),
    }
}

#[tokio::test]
async fn an_orders_events_are_listed_in_time_order() {
    let harness = Harness::new();
    let created = harness.call(post_orders(&contract_body().to_string(), &[])).await;
    let order_id: uuid::Uuid = body_json(&created)["orderId"].as_str().unwrap().parse().unwrap();
    let location = header(&created, "location").expect("location").to_owned();

    // Before the store has anything: the order exists, its history is empty.
    let empty = harness.call(proxy_event("GET", &format!("{location}/events"), &[], None)).await;
    assert_eq!(empty.status(), 200);
    assert_eq!(body_json(&empty), json!({"orderId": order_id.to_string(), "events": []}));

    // Recorded out of order, with a tie on time broken by id (as the index sorts `<time>#<id>`).
    harness
        .events
        .record(order_id, summary("orders.OrderConfirmed.v1", "e3", "2026-11-23T18:30:02.000Z", Some("req-1")));
    harness.events.record(order_id, summary("orders.OrderPlaced.v1", "e1", "2026-11-23T18:30:00.000Z", Some("req-1")));
    harness.events.record(order_id, summary("inventory.StockReserved.v1", "e2b", "2026-11-23T18:30:01.000Z", None));
    harness.events.record(order_id, summary("billing.PaymentAuthorized.v1", "e2a", "2026-11-23T18:30:01.000Z", None));
    harness
        .events
        .record(uuid::Uuid::now_v7(), summary("orders.OrderPlaced.v1", "other", "2026-11-23T18:29:00.000Z", None));

    let listed = harness.call(proxy_event("GET", &format!("{location}/events"), &[], None)).await;
    assert_eq!(listed.status(), 200);
    assert_eq!(header(&listed, "content-type"), Some("application/json"));
    let body = body_json(&listed);
    assert_eq!(body["orderId"], order_id.to_string());
    let ids: Vec<&str> = body["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["e1", "e2a", "e2b", "e3"]);
    assert_eq!(
        body["events"][0],
        json!({
            "type": "orders.OrderPlaced.v1", "id": "e1", "source": "order-api",
            "time": "2026-11-23T18:30:00.000Z", "correlationId": "req-1"
        })
    );
    assert_eq!(body["events"][1]["correlationId"], Value::Null);
    // Behind a trailing slash too.
    let slash = harness.call(proxy_event("GET", &format!("{location}/events/"), &[], None)).await;
    assert_eq!(slash.status(), 200);
}

#[tokio::test]
async fn an_unavailable_event_store_is_a_500_without_details() {
    let harness = Harness::new();
    let created = harness.call(post_orders(&contract_body().to_string(), &[])).await;
    let location = header(&created, "location").expect("location").to_owned();
    harness.events.set_failing(true);
    let response = harness.call(proxy_event("GET", &format!("{location}/events"), &[], None)).await;
    let problem = support::assert_problem(&response, 500);
    assert!(!problem["detail"].as_str().unwrap().contains("event store"), "{problem}");
}
