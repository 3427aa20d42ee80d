"""Java-free DynamoDB for LocalStack: every operation is served by moto (LocalStack's moto fork).

LocalStack's default DynamoDB provider forwards to DynamoDB Local, which needs Java and downloads
it at first use. These providers dispatch everything to moto in-process instead:

- ``PROVIDER_OVERRIDE_DYNAMODB=moto``        tables, items, conditions, transactions, GSIs, TTL, PITR, ...
- ``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto`` stream records kept by moto for tables with a StreamSpecification
"""

from __future__ import annotations

import json
import logging
import threading
import time

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.services.plugins import ServiceLifecycleHook

from orderflow_localstack.faults import HOLDS

LOG = logging.getLogger(__name__)

PROVIDER_NAME = "moto"

# moto's DynamoDB backend is not thread-safe: concurrent writes to one table fail with
# "dictionary changed size during iteration" (a 500 to the client) and can interleave the
# condition check and the write of a transaction. DynamoDB is linearisable per item and
# transactions are atomic, so every request (Streams too: they read the same tables) is served
# under one lock. Requests take a few milliseconds each; the lock costs no throughput that matters
# for a local stack.
_MOTO_DYNAMODB_LOCK = threading.RLock()


def serialized_moto_dispatcher(provider):
    """Like LocalStack's ``MotoFallbackDispatcher``, but one request at a time."""
    from localstack.aws.forwarder import ForwardingFallbackDispatcher
    from localstack.services.moto import call_moto

    patch_moto_transactions()

    def call_moto_serialized(context, request):
        operation = context.operation.name
        if operation == "TransactWriteItems" and HOLDS.hold_ms > 0:
            return _transact_holding_items(context, call_moto)
        if operation in _SINGLE_ITEM_WRITES:
            with _MOTO_DYNAMODB_LOCK:
                key = _single_item_key(context)
                if key is not None and HOLDS.is_held(key):
                    raise conflict_exception(operation, 0, 0)
                return call_moto(context)
        with _MOTO_DYNAMODB_LOCK:
            return call_moto(context)

    return ForwardingFallbackDispatcher(provider, call_moto_serialized)


# ---- Transaction conflicts, as DynamoDB has them ------------------------------------------------
# moto applies a transaction in one step under the lock above, so two transactions never overlap
# and never conflict. DynamoDB's do: a transaction holds its items while it runs, and a second
# transaction naming one of them is cancelled (TransactionConflict on that item), a single-item
# write to one of them is refused (TransactionConflictException). The emulation holds the
# transaction's items for HOLDS.hold_ms outside the lock, then lets moto apply it.
_SINGLE_ITEM_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
CONFLICT_MESSAGE = "Transaction is ongoing for the item"


def conflict_exception(operation: str, items: int, index: int) -> Exception:
    """What DynamoDB answers when an item is held by another transaction: for a transaction,
    TransactionCanceledException with TransactionConflict on that item and None on the others."""
    from localstack.aws.api.dynamodb import TransactionCanceledException, TransactionConflictException

    if operation not in ("TransactWriteItems", "TransactGetItems"):
        return TransactionConflictException(CONFLICT_MESSAGE)
    reasons = [{"Code": "None"} for _ in range(max(items, 1))]
    reasons[index] = {"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE}
    codes = ", ".join(r["Code"] for r in reasons)
    return TransactionCanceledException(
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        CancellationReasons=reasons,
    )


def _backend(context):
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[context.account_id][context.region]


def _item_key(backend, table_name, item) -> tuple[str, str] | None:
    """(table, primary key) of an item or key, None when it does not resolve (moto then answers
    the request's own error)."""
    try:
        table = backend.get_table(table_name)
        key = {table.hash_key_attr: item[table.hash_key_attr]}
        if table.range_key_attr:
            key[table.range_key_attr] = item[table.range_key_attr]
    except Exception:  # noqa: BLE001 - unknown table, missing key attribute: not ours to report
        return None
    return table.name, json.dumps(key, sort_keys=True, default=repr)


def _single_item_key(context) -> tuple[str, str] | None:
    request = context.service_request
    item = request.get("Item") if context.operation.name == "PutItem" else request.get("Key")
    return _item_key(_backend(context), request.get("TableName"), item or {})


def _transaction_item_keys(context) -> list[tuple[str, str] | None]:
    backend = _backend(context)
    keys = []
    for entry in context.service_request.get("TransactItems") or []:
        key = None
        for op_type, op in entry.items():
            if isinstance(op, dict):
                key = _item_key(backend, op.get("TableName"), op.get("Item" if op_type == "Put" else "Key") or {})
        keys.append(key)
    return keys


def _transact_holding_items(context, call_moto):
    with _MOTO_DYNAMODB_LOCK:
        keys = _transaction_item_keys(context)
    held = [k for k in keys if k is not None]
    owner = object()
    conflict = HOLDS.acquire(held, owner)
    if conflict is not None:
        index = keys.index(held[conflict])
        LOG.debug("transaction conflict on %s (item %d)", held[conflict], index)
        raise conflict_exception("TransactWriteItems", len(keys), index)
    try:
        time.sleep(HOLDS.hold_ms / 1000)
        with _MOTO_DYNAMODB_LOCK:
            return call_moto(context)
    finally:
        HOLDS.release(held, owner)


class MotoDynamoDBProvider(DynamodbApi, ServiceLifecycleHook):
    """No method is implemented here: the moto fallback dispatcher serves all operations."""


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi, ServiceLifecycleHook):
    """Served by moto's dynamodbstreams backend, which reads moto's DynamoDB tables."""


# moto's TransactWriteItems snapshots *every table of the region* with `copy.deepcopy(self.tables)`
# before each transaction, so that it can roll back. Each transaction then costs time in
# proportion to every item stored anywhere: with a few thousand idempotency records, a transaction
# took seconds and the functions timed out. The patch below snapshots only the items the
# transaction names (DynamoDB transactions touch at most 100) and restores those on rollback;
# the transaction logic itself stays moto's.
_skip_tables_deepcopy = threading.local()


class _DeepcopyUnlessTables:
    """Stands in for the `copy` module inside moto's DynamoDB models."""

    def __init__(self, real_copy):
        self._real = real_copy

    def deepcopy(self, value, memo=None):
        if value is getattr(_skip_tables_deepcopy, "tables", None):
            return value
        return self._real.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _transaction_keys(backend, transact_items):
    """(table, hash key, range key) of every item a transaction names, as far as they resolve."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys = []
    for entry in transact_items:
        for op_type, op in entry.items():
            try:
                table = backend.get_table(op["TableName"])
                source = op["Item"] if op_type == "Put" else op["Key"]
                hash_key = DynamoType(source[table.hash_key_attr])
                range_key = DynamoType(source[table.range_key_attr]) if table.range_key_attr else None
            except Exception:  # moto itself reports a malformed item with the right error
                continue
            keys.append((table, hash_key, range_key))
    return keys


def _snapshot(keys):
    import copy

    return [(table, h, r, copy.deepcopy(table.get_item(h, r))) for table, h, r in keys]


def _restore(snapshot):
    for table, hash_key, range_key, previous in reversed(snapshot):
        if range_key is None:
            if previous is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = previous
        else:
            items = table.items.setdefault(hash_key, {})
            if previous is None:
                items.pop(range_key, None)
            else:
                items[range_key] = previous


def patch_moto_transactions():
    """Installs the item-level rollback into moto's DynamoDB backend (idempotent)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_orderflow_item_rollback", False):
        return
    if not isinstance(models.copy, _DeepcopyUnlessTables):
        models.copy = _DeepcopyUnlessTables(models.copy)

    def transact_write_items(self, transact_items):
        snapshot = _snapshot(_transaction_keys(self, transact_items))
        tables = self.tables
        _skip_tables_deepcopy.tables = tables
        try:
            return original(self, transact_items)
        except Exception:
            # moto "rolled back" by re-assigning the very same dict: undo the items instead.
            self.tables = tables
            _restore(snapshot)
            raise
        finally:
            _skip_tables_deepcopy.tables = None

    transact_write_items._orderflow_item_rollback = True
    DynamoDBBackend.transact_write_items = transact_write_items
