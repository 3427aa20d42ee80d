"""Entry points discovered by LocalStack through plux (see pyproject.toml)."""

from __future__ import annotations

from localstack.runtime.server.core import RuntimeServerPlugin
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.plugins import Service, aws_provider


class HostProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "hostprocess"

    def load(self, *args, **kwargs):
        from orderflow_localstack.executor import HostProcessRuntimeExecutor

        return HostProcessRuntimeExecutor


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    from orderflow_localstack.dynamodb import MotoDynamoDBProvider, serialized_moto_dispatcher

    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=serialized_moto_dispatcher)


@aws_provider(api="dynamodbstreams", name="moto")
def dynamodbstreams_moto():
    from orderflow_localstack.dynamodb import MotoDynamoDBStreamsProvider, serialized_moto_dispatcher

    return Service.for_provider(MotoDynamoDBStreamsProvider(), dispatch_table_factory=serialized_moto_dispatcher)


@aws_provider(api="s3", name="tmpdir")
def s3_tmpdir():
    """LocalStack's S3 provider with its spool files under $TMPDIR instead of the fixed /tmp path."""
    import os
    import tempfile

    from localstack.services.s3.provider import S3Provider
    from localstack.services.s3.storage.ephemeral import EphemeralS3ObjectStore

    root = os.path.join(tempfile.gettempdir(), "localstack-s3-storage")
    return Service.for_provider(S3Provider(storage_backend=EphemeralS3ObjectStore(root)))


class LoopbackTwistedRuntimeServerPlugin(RuntimeServerPlugin):
    """LocalStack's twisted gateway server, but listening on GATEWAY_LISTEN's host: stock 4.8.1 binds
    IPv4 listeners to 0.0.0.0 whatever host is given. Selected with GATEWAY_SERVER=twisted_loopback."""

    name = "twisted_loopback"

    def load(self, *args, **kwargs):
        from orderflow_localstack.server import LoopbackTwistedRuntimeServer

        return LoopbackTwistedRuntimeServer()
