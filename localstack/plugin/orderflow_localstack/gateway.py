"""The fault injector inside LocalStack's gateway: a handler in the AWS request chain and the
control API on ``/_orderflow/...`` (localstack/README.md, "Faults on purpose").

The handler runs after LocalStack parsed the request (service, operation, parameters) and before
the service's provider: it counts the request, then applies the first matching rule. Errors are
raised as LocalStack's own service exceptions, so LocalStack's serializer writes them in the
request's protocol (DynamoDB awsJson1.0, SNS/SES query XML, SQS JSON) exactly as for a real error.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse

from localstack.aws.api import CommonServiceException, RequestContext
from localstack.aws.chain import HandlerChain
from localstack.http import Request, Response, route
from localstack.runtime import hooks

from orderflow_localstack.faults import (
    CALLERS,
    COUNTS,
    HOLDS,
    REGISTRY,
    Call,
    RuleError,
    access_key_of,
    errors_for,
    parse_rules_body,
)

LOG = logging.getLogger(__name__)


def resources_of(service: str, request) -> tuple[str, ...]:
    """The request's target resources a rule's `resource` is matched against."""
    if not isinstance(request, dict):
        return ()
    names: list[str] = []
    if service == "dynamodb":
        if request.get("TableName"):
            names.append(request["TableName"])
        for item in request.get("TransactItems") or []:
            for op in item.values():
                if isinstance(op, dict) and op.get("TableName"):
                    names.append(op["TableName"])
        names.extend(request.get("RequestItems") or {})
    elif service == "sns":
        names.extend(request[k] for k in ("TopicArn", "TargetArn") if request.get(k))
    elif service == "sqs":
        if request.get("QueueUrl"):
            names.append(request["QueueUrl"])
    elif service in ("ses", "sesv2"):
        names.extend(request[k] for k in ("Source", "FromEmailAddress") if request.get(k))
    return tuple(names)


def body_of(request: Request):
    """The request body, read only when a rule asks for it. A query-protocol body (SNS, SES) has
    been consumed by the form parser by then: it is re-encoded from the parsed form."""

    def body() -> bytes:
        data = request.get_data()
        if data or not request.form:
            return data
        return urllib.parse.urlencode(list(request.form.items(multi=True))).encode()

    return body


def fault_exception(service: str, operation: str, error: str, request) -> Exception:
    from orderflow_localstack.dynamodb import conflict_exception

    if service == "dynamodb" and error == "TransactionConflict":
        items = request.get("TransactItems") if isinstance(request, dict) else None
        return conflict_exception(operation, len(items or []), 0)
    status, message, sender_fault = errors_for(service)[error]
    return CommonServiceException(error, message, status_code=status, sender_fault=sender_fault)


def fault_handler(chain: HandlerChain, context: RequestContext, response: Response) -> None:
    if context.service is None or context.operation is None:
        return
    if context.is_internal_call:
        # LocalStack's own calls (Lambda's log delivery, event source polling, SNS deliveries):
        # neither counted nor faulted, only what clients and functions ask for is.
        return
    service = context.service.service_name
    operation = context.operation.name
    environment = CALLERS.lookup(access_key_of(context.request.headers.get("Authorization")))
    caller = environment.function_name if environment else None
    COUNTS.count(service, operation, caller)
    if not REGISTRY.active():
        return
    call = Call(
        service=service,
        operation=operation,
        resources=resources_of(service, context.service_request),
        caller=caller,
        body=body_of(context.request),
        has_environment=environment is not None,
    )
    decision = REGISTRY.decide(call)
    if decision is None:
        return
    if decision.latency_ms:
        time.sleep(decision.latency_ms / 1000)
    if decision.kill and environment is not None:
        killed = environment.kill()
        LOG.info("fault: killed %s at %s.%s (process there: %s)", caller, service, operation, killed)
        # Not served: the caller is gone; whatever is answered here reaches nobody.
        raise CommonServiceException("ServiceUnavailable", "killed by fault injection", status_code=503)
    if decision.error:
        LOG.debug("fault: %s on %s.%s from %s", decision.error, service, operation, caller)
        raise fault_exception(service, operation, decision.error, context.service_request)


def _json(status: int, doc) -> Response:
    return Response(json.dumps(doc), status=status, mimetype="application/json")


def _body(request: Request):
    try:
        return json.loads(request.get_data() or b"null")
    except ValueError as e:
        raise RuleError("body", f"not JSON ({e})") from e


class ControlApi:
    @route("/_orderflow/faults", methods=["POST"])
    def add_rules(self, request: Request) -> Response:
        try:
            rules = parse_rules_body(_body(request))
        except RuleError as e:
            return _json(400, {"error": str(e), "field": e.field})
        ids = REGISTRY.add(rules)
        LOG.info("fault rules added: %s", [r.to_json() for r in rules])
        return _json(200, {"ids": ids})

    @route("/_orderflow/faults", methods=["GET"])
    def list_rules(self, request: Request) -> Response:
        return _json(200, {"rules": REGISTRY.rules()})

    @route("/_orderflow/faults", methods=["DELETE"])
    def clear_rules(self, request: Request) -> Response:
        return _json(200, {"removed": REGISTRY.clear()})

    @route("/_orderflow/faults/<rule_id>", methods=["DELETE"])
    def remove_rule(self, request: Request, rule_id: str) -> Response:
        return _json(200, {"removed": REGISTRY.remove(rule_id)})

    @route("/_orderflow/requests", methods=["GET"])
    def requests(self, request: Request) -> Response:
        return _json(200, {"requests": COUNTS.snapshot(), "faults_injected": REGISTRY.injected_per_service()})

    @route("/_orderflow/requests", methods=["DELETE"])
    def reset_requests(self, request: Request) -> Response:
        removed = COUNTS.reset()
        REGISTRY.reset_injected()
        return _json(200, {"removed": removed})

    @route("/_orderflow/dynamodb", methods=["GET"])
    def dynamodb_settings(self, request: Request) -> Response:
        return _json(200, HOLDS.settings())

    @route("/_orderflow/dynamodb", methods=["POST"])
    def configure_dynamodb(self, request: Request) -> Response:
        try:
            return _json(200, HOLDS.configure(_body(request)))
        except RuleError as e:
            return _json(400, {"error": str(e), "field": e.field})

    # Anything else under /_orderflow: JSON too (LocalStack would answer S3's NoSuchBucket XML).
    @route("/_orderflow")
    @route("/_orderflow/<path:rest>")
    def unknown(self, request: Request, rest: str = "") -> Response:
        return _json(404, {"error": f"no route {request.method} {request.path}", "routes": ROUTES})


ROUTES = [
    "POST|GET|DELETE /_orderflow/faults",
    "DELETE /_orderflow/faults/<id>",
    "GET|DELETE /_orderflow/requests",
    "GET|POST /_orderflow/dynamodb",
]


@hooks.on_infra_start()
def register_fault_injector() -> None:
    from localstack.aws import handlers
    from localstack.services.edge import ROUTER

    ROUTER.add(ControlApi())
    handlers.serve_custom_service_request_handlers.append(fault_handler)
    LOG.debug("orderflow fault injector registered on /_orderflow")
