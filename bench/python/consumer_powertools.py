"""The consumer core written the way a Python team would, with Powertools for AWS Lambda (Python).

Same logic as bench/core-bench (the Rust consumer core): per Lambda SQS payload, BatchProcessor
with partial batch failures; the parser (pydantic v2) decodes each record's body as an SNS
notification whose Message is an OrderPlaced v1 CloudEvent and validates it (types, UUIDs,
RFC 3339 times, positive quantities, ISO currency, one currency per order, total = sum of lines);
idempotency on the event id with an in-memory persistence layer (the DynamoDB layer's semantics:
put-if-absent-or-expired, INPROGRESS -> COMPLETED, delete on failure); then the inventory rule
(reserve every item or none, one reservation record per order) on dicts.

usage: consumer_powertools.py throughput FILE REPS [LIMIT_BATCHES]
       consumer_powertools.py init FILE      ("ready" after imports + init, then processes FILE once)
"""
# --- cold import + init starts here ------------------------------------------------------------
import time

_MARKS = [("start", time.perf_counter())]  # stages of the cold start, printed by `init --marks`

import json
import sys
from datetime import datetime
from typing import Literal
from uuid import UUID

_MARKS.append(("stdlib", time.perf_counter()))
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

_MARKS.append(("powertools batch", time.perf_counter()))
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

_MARKS.append(("powertools idempotency (imports boto3)", time.perf_counter()))
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.parser.models import SnsNotificationModel, SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json, model_validator

_MARKS.append(("powertools parser + pydantic", time.perf_counter()))


class Money(BaseModel):
    amount: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class Customer(BaseModel):
    id: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = None


class LineItem(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(ge=1)
    unitPrice: Money


class OrderPlacedData(BaseModel):
    orderId: UUID
    customer: Customer
    items: list[LineItem] = Field(min_length=1)
    total: Money
    placedAt: datetime

    @model_validator(mode="after")
    def consistent_money(self):
        currencies = {item.unitPrice.currency for item in self.items}
        if currencies != {self.total.currency}:
            raise ValueError("all items and the total must share one currency")
        if len({item.sku for item in self.items}) != len(self.items):
            raise ValueError("SKUs must be unique within an order")
        if sum(item.quantity * item.unitPrice.amount for item in self.items) != self.total.amount:
            raise ValueError("total.amount must be the sum of quantity x unitPrice.amount")
        return self


class OrderPlacedV1(BaseModel):
    """The CloudEvents envelope of OrderPlaced v1 (unknown fields ignored, as the contract says)."""

    model_config = ConfigDict(extra="ignore")
    specversion: Literal["1.0"]
    type: Literal["orders.OrderPlaced.v1"]
    source: str = Field(min_length=1)
    id: UUID
    time: datetime
    subject: str | None = None
    correlationid: str | None = None
    data: OrderPlacedData


class OrderPlacedNotification(SnsNotificationModel):
    Message: Json[OrderPlacedV1]


class OrderPlacedRecord(SqsRecordModel):
    body: Json[OrderPlacedNotification]


_MARKS.append(("event models", time.perf_counter()))


class InMemoryPersistenceLayer(BasePersistenceLayer):
    """A local persistence layer with the DynamoDB layer's conditional semantics."""

    def __init__(self):
        super().__init__()
        self.records: dict[str, DataRecord] = {}

    def _get_record(self, idempotency_key) -> DataRecord:
        try:
            return self.records[idempotency_key]
        except KeyError:
            raise IdempotencyItemNotFoundError from None

    def _put_record(self, data_record: DataRecord) -> None:
        existing = self.records.get(data_record.idempotency_key)
        if existing is not None:
            now_ms = int(time.time() * 1000)
            in_progress_expired = (
                existing.status == "INPROGRESS"
                and existing.in_progress_expiry_timestamp is not None
                and existing.in_progress_expiry_timestamp < now_ms
            )
            if not (existing.is_expired or in_progress_expired):
                raise IdempotencyItemAlreadyExistsError(old_data_record=existing)
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)


SKUS = ["BOOK-0001", "BOOK-0002", "MUG-0001", "PEN-0001"]
INITIAL_STOCK = 1_000_000_000


class Inventory:
    """The inventory rule on dicts: all items or none, one reservation record per order."""

    def __init__(self):
        self.levels = {sku: [INITIAL_STOCK, 0] for sku in SKUS}
        self.reservations: dict[UUID, tuple[UUID, str]] = {}

    def reserve(self, event: OrderPlacedV1) -> dict:
        order_id = event.data.orderId
        if order_id in self.reservations:
            return {"orderId": str(order_id), "status": self.reservations[order_id][1]}
        ok = all(
            item.sku in self.levels and self.levels[item.sku][0] >= item.quantity for item in event.data.items
        )
        if ok:
            for item in event.data.items:
                level = self.levels[item.sku]
                level[0] -= item.quantity
                level[1] += item.quantity
        status = "RESERVED" if ok else "REJECTED"
        self.reservations[order_id] = (event.id, status)
        return {"orderId": str(order_id), "status": status}


class FakeContext:
    """The parts of a LambdaContext that Powertools reads."""

    function_name = "inventory"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:inventory"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis():
        return 10_000


class Consumer:
    """Module-level state of a deployed function: processor, idempotency config, rule."""

    def __init__(self):
        self.processor = BatchProcessor(event_type=EventType.SQS, model=OrderPlacedRecord)
        self.persistence = InMemoryPersistenceLayer()
        self.config = IdempotencyConfig(event_key_jmespath="id", raise_on_no_idempotency_key=True)
        self.inventory = Inventory()

        @idempotent_function(data_keyword_argument="event", config=self.config, persistence_store=self.persistence)
        def reserve(event: OrderPlacedV1) -> dict:
            return self.inventory.reserve(event)

        def record_handler(record: OrderPlacedRecord):
            return reserve(event=record.body.Message)

        self.record_handler = record_handler

    def handler(self, event: dict, context) -> dict:
        self.config.register_lambda_context(context)
        return process_partial_response(
            event=event, record_handler=self.record_handler, processor=self.processor, context=context
        )

    def reserved_orders(self) -> int:
        return sum(1 for _, status in self.inventory.reservations.values() if status == "RESERVED")


def run_all(consumer: Consumer, payloads: list[str]) -> tuple[int, int, int]:
    events = failures = size = 0
    context = FakeContext()
    for payload in payloads:
        event = json.loads(payload)
        events += len(event["Records"])
        response = consumer.handler(event, context)
        failures += len(response["batchItemFailures"])
        size += len(json.dumps(response))
    return events, failures, size


def thread_cpu_seconds():
    """CPU time this thread has run (/proc/thread-self/schedstat, ns): the same clock as the Rust side."""
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def vm_hwm_kib():
    """Peak resident set size of this process (VmHWM), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def main():
    usage = __doc__.split("usage:")[1]
    if len(sys.argv) < 3:
        sys.exit("usage:" + usage)
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "init":
        consumer = Consumer()
        _MARKS.append(("processor + idempotency + rule", time.perf_counter()))
        if "--marks" in sys.argv:
            stages = {name: (t - prev) * 1000 for (name, t), (_, prev) in zip(_MARKS[1:], _MARKS[:-1], strict=True)}
            print(json.dumps(stages), file=sys.stderr)
        print("ready", flush=True)
        with open(path) as f:
            payloads = [line for line in f.read().splitlines() if line.strip()]
        events, failures, _ = run_all(consumer, payloads)
        print(json.dumps({"events": events, "failures": failures, "reserved": consumer.reserved_orders(),
                          "vm_hwm_kib": vm_hwm_kib()}))
    elif mode == "throughput":
        reps = int(sys.argv[3])
        limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
        with open(path) as f:
            payloads = [line for line in f.read().splitlines() if line.strip()][:limit]
        rates, cpu_rates = [], []
        events = failures = 0
        for _ in range(reps):
            consumer = Consumer()
            started = time.perf_counter()
            cpu_started = thread_cpu_seconds()
            events, failures, _ = run_all(consumer, payloads)
            seconds = time.perf_counter() - started
            cpu_rates.append(events / (thread_cpu_seconds() - cpu_started))
            assert consumer.reserved_orders() + failures == events, "every event reserved or failed"
            rates.append(events / seconds)
        print(json.dumps({"events_per_rep": events, "failures": failures, "rates": rates, "cpu_rates": cpu_rates}))
    else:
        sys.exit("usage:" + usage)


if __name__ == "__main__":
    main()
