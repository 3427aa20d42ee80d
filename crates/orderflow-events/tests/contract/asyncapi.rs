//! The AsyncAPI document parses, points at the checked-in schema, and uses the crate's constants
//! for the SNS attributes and filter policies (one source of truth).

use orderflow_events::{
    EVENT_TYPE_ATTRIBUTE, EVENT_VERSION_ATTRIBUTE, ORDER_PLACED_EVENT_TYPE, ORDER_PLACED_V1_SCHEMA_FILE,
    ORDER_PLACED_V1_TYPE, ORDER_PLACED_V1_VERSION,
};
use serde_json::{Value, json};

use crate::crate_path;

/// Parsed with serde_yaml_ng, then viewed as JSON so paths read like the document.
fn document() -> Value {
    let path = crate_path("asyncapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|error| panic!("asyncapi.yaml does not parse: {error}"))
}

#[test]
fn asyncapi_document_describes_the_topic_and_message() {
    let doc = document();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["channels"]["orderEvents"]["address"], "OrderEventsTopic");
    assert_eq!(
        doc["channels"]["orderEvents"]["messages"]["orderPlacedV1"]["$ref"],
        "#/components/messages/OrderPlacedV1"
    );

    let message = &doc["components"]["messages"]["OrderPlacedV1"];
    assert_eq!(message["name"], ORDER_PLACED_V1_TYPE);
    // The payload is the checked-in generated schema, referenced relative to this document.
    let schema_ref = message["payload"]["schema"]["$ref"].as_str().expect("payload $ref");
    assert_eq!(schema_ref, format!("./{ORDER_PLACED_V1_SCHEMA_FILE}"));
    assert!(crate_path(ORDER_PLACED_V1_SCHEMA_FILE).is_file(), "{schema_ref} does not exist");
    assert_eq!(message["payload"]["schemaFormat"], "application/schema+json;version=draft-2020-12");

    let headers = &message["headers"];
    assert_eq!(headers["required"], json!([EVENT_TYPE_ATTRIBUTE, EVENT_VERSION_ATTRIBUTE]));
    assert_eq!(headers["properties"][EVENT_TYPE_ATTRIBUTE]["const"], ORDER_PLACED_EVENT_TYPE);
    assert_eq!(headers["properties"][EVENT_VERSION_ATTRIBUTE]["const"], ORDER_PLACED_V1_VERSION);
    let properties = headers["properties"].as_object().expect("header properties");
    assert_eq!(properties.len(), 2, "only the attributes the crate produces are documented");
}

#[test]
fn asyncapi_attributes_match_what_events_carry() {
    // The attributes the crate puts on a published event are exactly the documented headers.
    let doc = document();
    let example = &doc["components"]["messages"]["OrderPlacedV1"]["examples"][0]["headers"];
    let body = std::fs::read_to_string(crate_path("fixtures/valid/contract-example.json")).expect("fixture");
    let (event, _) = orderflow_events::decode_message(&body).expect("decodes");
    let orderflow_events::OrderEvent::OrderPlacedV1(placed) = event else { panic!("unexpected variant") };
    for (name, value) in placed.message_attributes() {
        assert_eq!(example[name], value, "attribute {name}");
    }
}

/// Which consumers the document lists is checked against `infra/consumers.yaml` by the template
/// tests; here every listed one must use this crate's attribute names and values.
#[test]
fn asyncapi_subscriptions_use_the_crate_constants() {
    let doc = document();
    let consumers =
        doc["operations"]["publishOrderPlaced"]["bindings"]["sns"]["consumers"].as_array().expect("sns consumers");
    assert!(!consumers.is_empty(), "no consumers listed");
    for consumer in consumers {
        let queue = consumer["endpoint"]["name"].as_str().expect("endpoint name");
        let name = queue.strip_suffix("Queue").unwrap_or_else(|| panic!("{queue} is not a <Name>Queue"));
        assert_eq!(consumer["protocol"], "sqs", "{queue}");
        assert_eq!(consumer["rawMessageDelivery"], true, "{queue}");
        assert_eq!(consumer["filterPolicyScope"], "MessageAttributes", "{queue}");
        assert_eq!(
            consumer["filterPolicy"],
            json!({
                EVENT_TYPE_ATTRIBUTE: [ORDER_PLACED_EVENT_TYPE],
                EVENT_VERSION_ATTRIBUTE: [ORDER_PLACED_V1_VERSION],
            }),
            "{queue}: a v2 published side by side must not reach a v1 queue"
        );
        assert_eq!(consumer["redrivePolicy"]["deadLetterQueue"]["name"], format!("{name}Dlq"), "{queue}");

        // Each consumer's receive operation reads its own queue.
        let mut chars = name.chars();
        let lower = chars.next().map(|first| first.to_lowercase().chain(chars).collect::<String>()).unwrap_or_default();
        let operation = format!("{lower}ReceivesOrderPlaced");
        let op = &doc["operations"][operation.as_str()];
        assert_eq!(op["action"], "receive", "{operation}");
        assert_eq!(op["channel"]["$ref"], "#/channels/orderEvents", "{operation}");
        assert_eq!(op["bindings"]["sqs"]["queues"][0]["name"], queue, "{operation}");
    }
}
