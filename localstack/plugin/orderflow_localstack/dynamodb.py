"""Java-free DynamoDB for LocalStack: every operation is served by moto (LocalStack's moto fork).

LocalStack's default DynamoDB provider forwards to DynamoDB Local, which needs Java and downloads
it at first use. These providers dispatch everything to moto in-process instead:

- ``PROVIDER_OVERRIDE_DYNAMODB=moto``        tables, items, conditions, transactions, GSIs, TTL, PITR, ...
- ``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto`` stream records kept by moto for tables with a StreamSpecification
"""

from __future__ import annotations

import threading

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.services.plugins import ServiceLifecycleHook

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
        with _MOTO_DYNAMODB_LOCK:
            return call_moto(context)

    return ForwardingFallbackDispatcher(provider, call_moto_serialized)


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
