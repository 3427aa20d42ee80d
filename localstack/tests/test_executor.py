"""Unit tests of the LocalStack-facing parts of the plugin (imports LocalStack, does not start it)."""

from types import SimpleNamespace

import pytest

from orderflow_localstack.executor import build_environment, check_supported, elf_architecture, host_architecture

_CODE = object()  # stands for a function's code; the executor only checks that there is one


def version(runtime="provided.al2023", package_type="Zip", code=_CODE):
    return SimpleNamespace(
        id=SimpleNamespace(function_name="fn", qualifier="$LATEST"),
        config=SimpleNamespace(runtime=runtime, package_type=package_type, code=code),
    )


def test_refuses_managed_runtimes_with_a_clear_message():
    with pytest.raises(Exception) as e:
        check_supported(version(runtime="python3.12"))
    assert "runtime 'python3.12' is not supported" in str(e.value)
    assert "docker-compose" in str(e.value)


def test_refuses_images():
    with pytest.raises(Exception, match="container-image functions are not supported"):
        check_supported(version(package_type="Image", code=None))


@pytest.mark.parametrize("runtime", ["provided.al2023", "provided.al2"])
def test_accepts_custom_runtimes(runtime):
    check_supported(version(runtime=runtime))


def test_elf_architecture(tmp_path):
    assert elf_architecture("/bin/sh") == host_architecture()
    script = tmp_path / "bootstrap"
    script.write_text("#!/bin/sh\n")
    assert elf_architecture(str(script)) is None
    arm = tmp_path / "arm"
    arm.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 11 + b"\xb7\x00")
    assert elf_architecture(str(arm)) == "arm64"


def test_environment_for_the_host_process():
    lambda_env = {
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 128,
        "AWS_ACCESS_KEY_ID": "LSIAxxx",
        "AWS_SESSION_TOKEN": "token",
        "LAMBDA_TASK_ROOT": "/var/task",
        "TABLE": "orders",
    }
    env = build_environment(
        lambda_env,
        code_dir="/code",
        endpoint_url="http://127.0.0.1:4566",
        base_env={"PATH": "/bin", "AWS_PROFILE": "prod", "HOME": "/root", "TMPDIR": "/state/tmp"},
    )
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_ACCESS_KEY_ID"] == "test" and env["AWS_SECRET_ACCESS_KEY"] == "test"
    assert "AWS_SESSION_TOKEN" not in env
    assert env["LAMBDA_TASK_ROOT"] == "/code"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["TABLE"] == "orders"
    assert "AWS_PROFILE" not in env
    assert env["HOME"] == "/state/tmp"
    assert env["PATH"] == "/bin"
