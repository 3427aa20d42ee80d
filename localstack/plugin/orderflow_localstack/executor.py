"""LocalStack runtime executor that runs provided.al2023/provided.al2 functions as host processes.

Selected with ``LAMBDA_RUNTIME_EXECUTOR=hostprocess``. LocalStack creates one executor per
execution environment (its ``ExecutionEnvironment``) and reuses warm environments; several
environments of the same function run concurrently, each with its own process and Runtime API port.
"""

from __future__ import annotations

import atexit
import logging
import os
import struct
import sys
import threading
import time

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import StatusErrorException
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)
from localstack.utils.strings import to_bytes, to_str

from orderflow_localstack.faults import CALLERS
from orderflow_localstack.hostruntime import HostRuntime, InitError, kill_all_groups

LOG = logging.getLogger(__name__)

SUPPORTED_RUNTIMES = ("provided.al2023", "provided.al2", "provided")
EXECUTOR_NAME = "hostprocess"

# ELF e_machine values -> Lambda architecture names
_ELF_MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}

atexit.register(kill_all_groups)

# An invocation hops across several threads (LocalStack's request thread, the Runtime API handler
# threads, the waiting invoker); with CPython's default 5 ms GIL switch interval each hop can cost
# milliseconds while other LocalStack threads are busy. LocalStack is I/O-bound: hand over faster.
_SWITCH_INTERVAL = os.environ.get("LAMBDA_HOSTPROCESS_SWITCH_INTERVAL", "0.0005")
if _SWITCH_INTERVAL:
    sys.setswitchinterval(float(_SWITCH_INTERVAL))


def host_architecture() -> str:
    machine = os.uname().machine
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def elf_architecture(path: str) -> str | None:
    """The architecture of an ELF executable, or None for scripts and unknown files."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    endian = "<" if head[5] == 1 else ">"
    (machine,) = struct.unpack(endian + "H", head[18:20])
    return _ELF_MACHINES.get(machine, f"elf-machine-{machine:#x}")


def check_supported(function_version: FunctionVersion) -> None:
    """Refuse what a host process cannot run, with a message that says what to do instead."""
    cfg = function_version.config
    if getattr(cfg, "package_type", "Zip") == "Image" or cfg.code is None:
        raise LambdaRuntimeException(
            f"Function {function_version.id.function_name}: container-image functions are not supported by "
            f"the '{EXECUTOR_NAME}' Lambda executor. Use LocalStack with Docker "
            "(localstack/docker-compose.yml) for image functions."
        )
    if cfg.runtime not in SUPPORTED_RUNTIMES:
        raise LambdaRuntimeException(
            f"Function {function_version.id.function_name}: runtime '{cfg.runtime}' is not supported by the "
            f"'{EXECUTOR_NAME}' Lambda executor, which runs only custom runtimes "
            f"({', '.join(SUPPORTED_RUNTIMES)}) as host processes. Use LocalStack with Docker "
            "(localstack/docker-compose.yml) for managed runtimes."
        )


def build_environment(
    lambda_env: dict,
    *,
    code_dir: str,
    endpoint_url: str,
    base_env: dict | None = None,
) -> dict[str, str]:
    """Lambda's environment for a host process: LocalStack's variables, host PATH, fixed test credentials."""
    base = base_env if base_env is not None else os.environ
    env: dict[str, str] = {}
    for key in ("PATH", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        if base.get(key):
            env[key] = base[key]
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "en_US.UTF-8")
    for key, value in lambda_env.items():
        if value is None:
            continue
        env[str(key)] = str(value)
    # Host paths instead of the container's /var/task and /var/runtime.
    env["LAMBDA_TASK_ROOT"] = code_dir
    env["LAMBDA_RUNTIME_DIR"] = code_dir
    env["HOME"] = env.get("TMPDIR", "/tmp")
    # LocalStack accepts any credentials; test/test maps to account 000000000000.
    env["AWS_ACCESS_KEY_ID"] = "test"
    env["AWS_SECRET_ACCESS_KEY"] = "test"
    env.pop("AWS_SESSION_TOKEN", None)
    env.setdefault("AWS_ENDPOINT_URL", endpoint_url)
    # Nothing from the developer's shell that changes where the SDK looks.
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        env.pop(key, None)
    return env


class HostProcessRuntimeExecutor(RuntimeExecutor):
    runtime: HostRuntime | None

    def __init__(self, id: str, function_version: FunctionVersion) -> None:  # noqa: A002 - RuntimeExecutor's signature
        super().__init__(id, function_version)
        self.runtime = None
        self._caller_key: str | None = None

    # ---- version lifecycle ----

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        check_supported(function_version)
        code = function_version.config.code
        code.prepare_for_execution()
        code_dir = str(code.get_unzipped_code_location())
        bootstrap = os.path.join(code_dir, "bootstrap")
        arch = elf_architecture(bootstrap)
        if arch is not None and arch != host_architecture():
            raise LambdaRuntimeException(
                f"Function {function_version.id.function_name}: bootstrap is an {arch} binary and cannot run on "
                f"this {host_architecture()} host. Build it for {host_architecture()} "
                "(the declared Architectures of the function do not matter locally)."
            )
        if function_version.config.layers:
            LOG.warning(
                "Function %s has layers; the '%s' executor ignores layers",
                function_version.id.function_name,
                EXECUTOR_NAME,
            )

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True

    # ---- environment lifecycle ----

    def _code_dir(self) -> str:
        return str(self.function_version.config.code.get_unzipped_code_location())

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        return f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    def start(self, env_vars: dict[str, str]) -> None:
        cfg = self.function_version.config
        code_dir = self._code_dir()
        endpoint_url = f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}"
        env = build_environment(env_vars, code_dir=code_dir, endpoint_url=endpoint_url)
        # An access key of this environment's own (still the default account): the gateway's fault
        # injector reads it from each request's signature to know which function calls, and whom
        # a `kill` rule kills.
        self._caller_key = CALLERS.register(self.function_version.id.function_name, self._kill)
        env["AWS_ACCESS_KEY_ID"] = self._caller_key
        self.runtime = HostRuntime(
            code_dir,
            env,
            timeout_s=cfg.timeout,
            memory_mb=cfg.memory_size,
            version=self.function_version.id.qualifier,
            startup_timeout_s=max(1.0, float(config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT) - 1.0),
            name=f"{self.function_version.id.function_name}-{self.id[:8]}",
        )
        try:
            self.runtime.start()
        except InitError as e:
            if e.logs:
                LOG.info(
                    "Init of %s failed; its output:\n%s", self.function_version.id.function_name, e.logs.rstrip()
                )
                self._deliver_init_logs(env_vars, e.logs)
            raise StatusErrorException(e.payload.get("errorMessage", "init error"), payload=e.payload_bytes) from e
        LOG.debug(
            "Started %s (pid %s, runtime api %s)",
            self.function_version.qualified_arn,
            self.runtime.pid,
            self.runtime.runtime_api,
        )

    def _deliver_init_logs(self, env_vars: dict, logs: str) -> None:
        """An init failure has no invocation to carry its output: write it to CloudWatch Logs as Lambda does."""
        group = env_vars.get("AWS_LAMBDA_LOG_GROUP_NAME")
        stream = env_vars.get("AWS_LAMBDA_LOG_STREAM_NAME")
        if not group or not stream:
            return
        region = self.function_version.id.region

        def put() -> None:
            try:
                from localstack.aws.connect import connect_to

                client = connect_to(region_name=region).logs
                try:
                    client.create_log_group(logGroupName=group)
                except client.exceptions.ResourceAlreadyExistsException:
                    pass
                try:
                    client.create_log_stream(logGroupName=group, logStreamName=stream)
                except client.exceptions.ResourceAlreadyExistsException:
                    pass
                now = int(time.time() * 1000)
                events = [{"timestamp": now, "message": line + "\n"} for line in logs.split("\n") if line]
                if events:
                    client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
            except Exception as e:  # noqa: BLE001 - logs are best effort
                LOG.debug("could not deliver init logs of %s: %s", self.function_version.id.function_name, e)

        threading.Thread(target=put, name="hostlambda-init-logs", daemon=True).start()

    def _kill(self) -> bool:
        return self.runtime.kill() if self.runtime is not None else False

    def stop(self) -> None:
        if self._caller_key is not None:
            CALLERS.unregister(self._caller_key)
        if self.runtime is not None:
            self.runtime.stop()

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        if self.runtime is None:
            raise LambdaRuntimeException("execution environment not started")
        result = self.runtime.invoke(
            payload["invoke-id"],
            to_bytes(payload.get("payload") or ""),
            trace_id=payload.get("trace-id"),
            invoked_function_arn=payload.get("invoked-function-arn") or self.function_version.qualified_arn,
            client_context=payload.get("client-context"),
        )
        return InvocationResult(
            request_id=result.request_id,
            payload=result.payload,
            is_error=result.is_error,
            logs=result.logs,
        )

    def get_logs(self) -> str:
        return to_str(self.runtime.get_logs()) if self.runtime else ""
