"""Invocation payloads for the cold-start and memory runs (bench/run item 2).

usage: make_events.py OUT_DIR
Writes:
  apigw-unknown-route.json  API Gateway REST proxy event, GET /bench-unknown -> the order API's 404
                            (routing only: no AWS call)
  apigw-post-order.json     API Gateway REST proxy event, POST /orders with a valid order (real
                            DynamoDB + SNS I/O; for the memory run against LocalStack)
  sqs-undecodable.json      SQS batch of one message whose body is not an event -> a consumer
                            reports it in batchItemFailures (decode only: no AWS call)
  sqs-real-batch.json       SQS batch of 10 valid OrderPlaced v1 (raw delivery, as deployed), fresh
                            ids, 1 x BOOK-0001 each (seeded SKU) -> real I/O against LocalStack
  relay-invalid.json        {"graceSeconds": "not-a-number"} -> the outbox relay's validation error
                            (no AWS call)
  relay-run.json            {"graceSeconds": 0} -> a real relay run (outbox query, maybe publishes)
"""
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime


def apigw(method, path, body=None):
    now = int(time.time() * 1000)
    headers = {"Host": "bench.execute-api.us-east-1.amazonaws.com", "User-Agent": "orderflow-bench",
               "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000",
            "resourceId": "bench1",
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": "bench",
            "requestTime": "23/Nov/2026:18:30:00 +0000",
            "requestTimeEpoch": now,
            "path": f"/local{path}",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "orderflow-bench"},
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "benchapi",
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def sqs_record(body, n):
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": f"AQEBbench{n}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(int(time.time() * 1000)),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": "00000000000000000000000000000000",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench-queue",
        "awsRegion": "us-east-1",
    }


def order_placed(n):
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    order_id = str(uuid.uuid4())
    tag = uuid.uuid4().hex[:12]
    return {
        "specversion": "1.0",
        "type": "orders.OrderPlaced.v1",
        "source": "order-api",
        "id": str(uuid.uuid4()),
        "time": now,
        "subject": order_id,
        "datacontenttype": "application/json",
        "correlationid": f"bench-{tag}",
        "data": {
            "orderId": order_id,
            "customer": {"id": f"cus_bench_{tag}", "email": f"bench-{tag}@example.com", "name": "Bench"},
            "items": [{"sku": "BOOK-0001", "quantity": 1, "unitPrice": {"amount": 1999, "currency": "EUR"}}],
            "total": {"amount": 1999, "currency": "EUR"},
            "placedAt": now,
        },
    }


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    files = {
        "apigw-unknown-route.json": apigw("GET", "/bench-unknown"),
        "apigw-post-order.json": apigw("POST", "/orders", {
            "customer": {"id": "cus_bench", "email": "bench@example.com", "name": "Bench"},
            "currency": "EUR",
            "items": [{"sku": "BOOK-0001", "quantity": 1, "unitPrice": 1999}],
        }),
        "sqs-undecodable.json": {"Records": [sqs_record("this is not an event", 0)]},
        "sqs-real-batch.json": {"Records": [sqs_record(json.dumps(order_placed(n)), n) for n in range(10)]},
        "relay-invalid.json": {"graceSeconds": "not-a-number"},
        "relay-run.json": {"graceSeconds": 0},
    }
    for name, payload in files.items():
        with open(os.path.join(out, name), "w") as f:
            json.dump(payload, f)


if __name__ == "__main__":
    main()
