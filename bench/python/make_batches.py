"""Writes Lambda SQS event payloads for the consumer side-by-side (bench/run item 4).

One JSON document per line: an SQS event of BATCH records, each an SNS notification (non-raw
delivery, as the contract says consumers must accept) wrapping a distinct OrderPlaced v1 event.
Deterministic (seeded), so the Rust and Python consumers read the very same bytes.

usage: make_batches.py OUT_FILE BATCHES [BATCH]
"""
import json
import random
import sys
import uuid

SKUS = [("BOOK-0001", 1999), ("BOOK-0002", 2500), ("MUG-0001", 899), ("PEN-0001", 350)]


def order_placed(rng, n):
    event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    order_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    items = [
        {"sku": sku, "quantity": rng.randint(1, 3), "unitPrice": {"amount": price, "currency": "EUR"}}
        for sku, price in rng.sample(SKUS, rng.randint(1, 3))
    ]
    total = sum(i["quantity"] * i["unitPrice"]["amount"] for i in items)
    seconds = n % 60
    return {
        "specversion": "1.0",
        "type": "orders.OrderPlaced.v1",
        "source": "order-api",
        "id": event_id,
        "time": f"2026-11-23T18:30:{seconds:02d}.123Z",
        "subject": order_id,
        "datacontenttype": "application/json",
        "correlationid": f"req-{n:08x}",
        "data": {
            "orderId": order_id,
            "customer": {"id": f"cus_{n % 5000}", "email": f"customer{n % 5000}@example.com", "name": "Ada Lovelace"},
            "items": items,
            "total": {"amount": total, "currency": "EUR"},
            "placedAt": f"2026-11-23T18:30:{seconds:02d}.120Z",
        },
    }


def sns_notification(rng, event):
    return {
        "Type": "Notification",
        "MessageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:orderflow-OrderEventsTopic-1A2B3C4D5E6F",
        "Message": json.dumps(event, separators=(",", ":")),
        "Timestamp": "2026-11-23T18:30:00.456Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858f=",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:"
        "us-east-1:000000000000:orderflow-OrderEventsTopic-1A2B3C4D5E6F:0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        "MessageAttributes": {
            "event_type": {"Type": "String", "Value": "OrderPlaced"},
            "event_version": {"Type": "String", "Value": "1"},
        },
    }


def sqs_record(rng, body, n):
    return {
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "receiptHandle": f"AQEB{n:012d}bench",
        "body": json.dumps(body, separators=(",", ":")),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795458600456",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1795458600500",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:orderflow-InventoryQueue",
        "awsRegion": "us-east-1",
    }


def main():
    out, batches = sys.argv[1], int(sys.argv[2])
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    rng = random.Random(8)
    n = 0
    with open(out, "w") as f:
        for _ in range(batches):
            records = []
            for _ in range(batch):
                records.append(sqs_record(rng, sns_notification(rng, order_placed(rng, n)), n))
                n += 1
            f.write(json.dumps({"Records": records}, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
