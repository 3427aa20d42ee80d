//! Every error row of `docs/contracts/http-api.md`, through API Gateway, on the deployed stack:
//! the status, a problem+json body that names every bad field, nothing internal leaked, and
//! nothing stored or published.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::spy::SpyQueue;
use e2e::{ApiResponse, Harness, TestOrder};
use serde_json::{Value, json};

/// Words that would betray an internal detail in an error body.
const LEAKS: [&str; 9] =
    ["dynamodb", "sns:", "arn:aws", "panicked", "backtrace", "src/", "ConditionalCheck", "Transaction", "lambda"];

fn assert_problem(response: &ApiResponse, status: u16, case: &str) {
    assert_eq!(response.status, status, "{case}: {}", response.text);
    assert!(
        response.header("content-type").is_some_and(|t| t.starts_with("application/problem+json")),
        "{case}: content type {:?}",
        response.header("content-type")
    );
    for member in ["type", "title", "detail"] {
        assert!(response.json[member].is_string(), "{case}: problem member {member} missing: {}", response.text);
    }
    assert_eq!(response.json["status"], status, "{case}: {}", response.text);
    for leak in LEAKS {
        assert!(
            !response.text.to_lowercase().contains(&leak.to_lowercase()),
            "{case}: leaks {leak:?}: {}",
            response.text
        );
    }
}

fn bad_fields(response: &ApiResponse) -> Vec<String> {
    response.json["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|error| error["field"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_request_gets_its_status_and_changes_nothing() {
    let harness = Harness::connect().await;
    let mut spy = SpyQueue::attach(&harness).await;
    let order = TestOrder::new(vec![("BOOK-0001".into(), 1, 1999)]);
    let valid = order.body();

    // 400: not JSON, or not an object.
    for (case, body) in [("not JSON", "{\"customer\": "), ("an array", "[1, 2]"), ("a string", "\"order\"")] {
        let request = harness.http.post(harness.url("/orders")).header("content-type", "application/json").body(body);
        assert_problem(&harness.send(request).await, 400, case);
    }

    // 422: each rule broken, with the field named.
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = valid.clone();
        edit(&mut body);
        body
    };
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("missing customer", with(&|b| _ = b.as_object_mut().map(|o| o.remove("customer"))), vec!["customer"]),
        ("bad email", with(&|b| b["customer"]["email"] = json!("not-an-address")), vec!["customer.email"]),
        ("customer id charset", with(&|b| b["customer"]["id"] = json!("cus 1!")), vec!["customer.id"]),
        ("name too long", with(&|b| b["customer"]["name"] = json!("n".repeat(201))), vec!["customer.name"]),
        ("unknown currency", with(&|b| b["currency"] = json!("XYZ")), vec!["currency"]),
        ("lower-case currency", with(&|b| b["currency"] = json!("eur")), vec!["currency"]),
        ("no items", with(&|b| b["items"] = json!([])), vec!["items"]),
        ("quantity zero", with(&|b| b["items"][0]["quantity"] = json!(0)), vec!["items[0].quantity"]),
        ("quantity too large", with(&|b| b["items"][0]["quantity"] = json!(1001)), vec!["items[0].quantity"]),
        ("quantity a string", with(&|b| b["items"][0]["quantity"] = json!("2")), vec!["items[0].quantity"]),
        ("price negative", with(&|b| b["items"][0]["unitPrice"] = json!(-1)), vec!["items[0].unitPrice"]),
        ("price fractional", with(&|b| b["items"][0]["unitPrice"] = json!(19.99)), vec!["items[0].unitPrice"]),
        ("price too large", with(&|b| b["items"][0]["unitPrice"] = json!(10_000_001)), vec!["items[0].unitPrice"]),
        ("sku charset", with(&|b| b["items"][0]["sku"] = json!("book-1")), vec!["items[0].sku"]),
        (
            "duplicate sku",
            with(&|b| {
                b["items"] = json!([{"sku":"A-1","quantity":1,"unitPrice":1},{"sku":"A-1","quantity":1,"unitPrice":1}])
            }),
            vec!["items[1].sku"],
        ),
        ("name with a line break", with(&|b| b["customer"]["name"] = json!("Ada\nLovelace")), vec!["customer.name"]),
        (
            "name with a bidirectional override",
            with(&|b| b["customer"]["name"] = json!("Ada\u{202E}moc.elpmaxe")),
            vec!["customer.name"],
        ),
        (
            "email SES cannot deliver (not ASCII)",
            with(&|b| b["customer"]["email"] = json!("jürgen@example.de")),
            vec!["customer.email"],
        ),
        ("address not an object", with(&|b| b["shippingAddress"] = json!("London")), vec!["shippingAddress"]),
        (
            "address country lower case",
            with(&|b| {
                b["shippingAddress"] = json!({"line1": "1 A St", "city": "London", "postalCode": "N1", "country": "gb"})
            }),
            vec!["shippingAddress.country"],
        ),
        (
            "address without a city",
            with(&|b| b["shippingAddress"] = json!({"line1": "1 A St", "postalCode": "N1", "country": "GB"})),
            vec!["shippingAddress.city"],
        ),
        (
            "address line too long",
            with(&|b| {
                b["shippingAddress"] =
                    json!({"line1": "x".repeat(101), "city": "London", "postalCode": "N1", "country": "GB"})
            }),
            vec!["shippingAddress.line1"],
        ),
        (
            "address with a control character",
            with(&|b| {
                b["shippingAddress"] =
                    json!({"line1": "1 A St", "city": "Lon\u{0007}don", "postalCode": "N1", "country": "GB"})
            }),
            vec!["shippingAddress.city"],
        ),
        (
            "every field wrong at once",
            json!({"customer": {"id": "", "email": 3}, "currency": 1, "items": [{"sku": "", "quantity": -1, "unitPrice": "x"}]}),
            vec![
                "customer.id",
                "customer.email",
                "currency",
                "items[0].sku",
                "items[0].quantity",
                "items[0].unitPrice",
            ],
        ),
    ];
    for (case, body, fields) in cases {
        let response = harness.post_order(&body, &[]).await;
        assert_problem(&response, 422, case);
        let named = bad_fields(&response);
        for field in fields {
            assert!(named.iter().any(|f| f == field), "{case}: {field} not named in {named:?}");
        }
    }
    let bad_key = harness.post_order(&valid, &[("Idempotency-Key", "has spaces and ü")]).await;
    assert_problem(&bad_key, 422, "bad Idempotency-Key");

    // 413: over 64 KiB.
    let mut huge = valid.clone();
    huge["customer"]["name"] = json!("x".repeat(70 * 1024));
    assert_problem(&harness.post_order(&huge, &[]).await, 413, "64 KiB limit");

    // 415: not JSON.
    let request =
        harness.http.post(harness.url("/orders")).header("content-type", "text/plain").body(valid.to_string());
    assert_problem(&harness.send(request).await, 415, "text/plain");

    // 404: unknown order, malformed order id, unknown route; 405: wrong method.
    let unknown = harness.http.get(harness.url("/orders/0193a5d2-7c1d-7000-8000-000000000000"));
    assert_problem(&harness.send(unknown).await, 404, "unknown order");
    assert_problem(&harness.send(harness.http.get(harness.url("/orders/not-an-id"))).await, 404, "malformed id");
    assert_problem(&harness.send(harness.http.get(harness.url("/customers"))).await, 404, "unknown route");
    assert_problem(&harness.send(harness.http.delete(harness.url("/orders"))).await, 405, "DELETE /orders");

    // Nothing stored, nothing published for this customer.
    spy.collect_for(Duration::from_secs(5)).await;
    assert!(spy.events_for_customer(&order.customer_id).is_empty(), "an event was published for a rejected request");
    let stored = harness
        .dynamodb
        .scan()
        .table_name(harness.stack.output("OrdersTableName"))
        .filter_expression("#customer.#id = :id")
        .expression_attribute_names("#customer", "customer")
        .expression_attribute_names("#id", "id")
        .expression_attribute_values(":id", AttributeValue::S(order.customer_id.clone()))
        .send()
        .await
        .expect("Scan orders");
    assert_eq!(stored.count, 0, "an order was stored for a rejected request");
    spy.detach().await;
}
