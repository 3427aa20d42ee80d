"""Java-free DynamoDB for LocalStack: every operation is served by moto (LocalStack's moto fork).

LocalStack's default DynamoDB provider forwards to DynamoDB Local, which needs Java and downloads
it at first use. These providers dispatch everything to moto in-process instead:

- ``PROVIDER_OVERRIDE_DYNAMODB=moto``        tables, items, conditions, transactions, GSIs, TTL, PITR, ...
- ``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto`` stream records kept by moto for tables with a StreamSpecification
"""

from __future__ import annotations

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.services.plugins import ServiceLifecycleHook

PROVIDER_NAME = "moto"


class MotoDynamoDBProvider(DynamodbApi, ServiceLifecycleHook):
    """No method is implemented here: the moto fallback dispatcher serves all operations."""


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi, ServiceLifecycleHook):
    """Served by moto's dynamodbstreams backend, which reads moto's DynamoDB tables."""
