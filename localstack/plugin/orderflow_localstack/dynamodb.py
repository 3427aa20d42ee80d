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

    def call_moto_serialized(context, request):
        with _MOTO_DYNAMODB_LOCK:
            return call_moto(context)

    return ForwardingFallbackDispatcher(provider, call_moto_serialized)


class MotoDynamoDBProvider(DynamodbApi, ServiceLifecycleHook):
    """No method is implemented here: the moto fallback dispatcher serves all operations."""


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi, ServiceLifecycleHook):
    """Served by moto's dynamodbstreams backend, which reads moto's DynamoDB tables."""
