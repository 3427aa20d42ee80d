"""Faults on purpose: rules that make chosen AWS requests fail the way AWS fails them.

This module holds the state and the decisions, without any LocalStack import, so the unit tests
exercise it directly; ``gateway.py`` wires it into LocalStack's handler chain and serves the
control API (``/_orderflow/...``). Everything here is called from many gateway threads at once:
every piece of shared state has its own lock, held only for dictionary updates (never while
sleeping or killing).
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# The AWS errors a rule may name, per LocalStack service name: (HTTP status, message, sender fault).
# Status and message are AWS's own; the sender fault decides the query protocol's <Type> (Sender
# for throttling, Receiver for 5xx).
ERRORS: dict[str, dict[str, tuple[int, str, bool]]] = {
    "dynamodb": {
        "ProvisionedThroughputExceededException": (
            400,
            "The level of configured provisioned throughput for the table was exceeded. "
            "Consider increasing your provisioning level with the UpdateTable API.",
            True,
        ),
        "ThrottlingException": (400, "Rate of requests exceeds the allowed throughput.", True),
        "RequestLimitExceeded": (
            400,
            "Throughput exceeds the current throughput limit for your account. "
            "Please contact AWS Support at https://aws.amazon.com/support request a limit increase",
            True,
        ),
        "InternalServerError": (500, "Internal server error", False),
        # Special: TransactionCanceledException (TransactWriteItems, TransactGetItems) or
        # TransactionConflictException (every other operation); see gateway.raise_fault.
        "TransactionConflict": (400, "Transaction is ongoing for the item", True),
    },
    "sns": {
        "Throttling": (400, "Rate exceeded", True),
        "InternalError": (500, "Internal Error", False),
        "ServiceUnavailable": (503, "Service Unavailable", False),
    },
    "ses": {
        "Throttling": (400, "Maximum sending rate exceeded.", True),
        "ServiceUnavailable": (503, "Service Unavailable", False),
        "InternalFailure": (500, "Internal Failure", False),
    },
    "sqs": {
        "ThrottlingException": (400, "Rate exceeded", True),
        "RequestThrottled": (400, "Rate exceeded", True),
        "InternalError": (500, "We encountered an internal error. Please try again.", False),
        "ServiceUnavailable": (503, "Service Unavailable", False),
    },
}
# Every other service (lambda, logs, cloudwatch, ...): AWS's common errors.
COMMON_ERRORS: dict[str, tuple[int, str, bool]] = {
    "ThrottlingException": (400, "Rate exceeded", True),
    "InternalFailure": (500, "The request processing has failed because of an unknown error.", False),
    "ServiceUnavailable": (503, "Service Unavailable", False),
}

RULE_FIELDS = (
    "service",
    "operations",
    "resource",
    "caller",
    "body_contains",
    "error",
    "latency_ms",
    "probability",
    "count",
    "kill",
)


def errors_for(service: str) -> dict[str, tuple[int, str, bool]]:
    return ERRORS.get(service, COMMON_ERRORS)


class RuleError(ValueError):
    """A rule body the control API refuses (HTTP 400); the message names the field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass
class Rule:
    service: str
    operations: frozenset[str] | None = None
    resource: str | None = None
    caller: str | None = None
    body_contains: str | None = None
    error: str | None = None
    latency_ms: int | None = None
    probability: float = 1.0
    count: int | None = None
    kill: bool = False
    id: str = ""
    matched: int = 0
    injected: int = 0

    def spent(self) -> bool:
        return self.count is not None and self.injected >= self.count

    def to_json(self) -> dict:
        doc: dict = {"id": self.id, "service": self.service}
        if self.operations is not None:
            doc["operations"] = sorted(self.operations)
        for name in ("resource", "caller", "body_contains", "error", "latency_ms", "count"):
            value = getattr(self, name)
            if value is not None:
                doc[name] = value
        doc["probability"] = self.probability
        if self.kill:
            doc["kill"] = True
        doc["matched"] = self.matched
        doc["injected"] = self.injected
        return doc


def _optional_str(doc: dict, name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise RuleError(name, "must be a non-empty string")
    return value


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_rule(doc) -> Rule:
    """A rule from its JSON document; raises RuleError naming the first bad field."""
    if not isinstance(doc, dict):
        raise RuleError("rules", "each rule must be a JSON object")
    unknown = sorted(set(doc) - set(RULE_FIELDS))
    if unknown:
        raise RuleError(unknown[0], f"unknown field (known: {', '.join(RULE_FIELDS)})")
    service = doc.get("service")
    if not isinstance(service, str) or not service:
        raise RuleError("service", "required: a LocalStack service name such as dynamodb, sns, sqs, ses")
    service = service.lower()

    operations = doc.get("operations")
    if operations is not None:
        if (
            not isinstance(operations, list)
            or not operations
            or not all(isinstance(o, str) and o for o in operations)
        ):
            raise RuleError("operations", "must be a non-empty list of operation names (e.g. PutItem)")
        operations = frozenset(operations)

    error = _optional_str(doc, "error")
    known = errors_for(service)
    if error is not None and error not in known:
        raise RuleError("error", f"{error!r} is not an error of {service} (one of: {', '.join(sorted(known))})")

    latency_ms = doc.get("latency_ms")
    if latency_ms is not None and (not _is_number(latency_ms) or latency_ms < 0 or latency_ms > 600_000):
        raise RuleError("latency_ms", "must be a number of milliseconds between 0 and 600000")

    probability = doc.get("probability", 1.0)
    if not _is_number(probability) or not 0.0 <= probability <= 1.0:
        raise RuleError("probability", "must be a number between 0 and 1")

    count = doc.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise RuleError("count", "must be a positive integer")

    kill = doc.get("kill", False)
    if not isinstance(kill, bool):
        raise RuleError("kill", "must be true or false")
    if kill and error is not None:
        raise RuleError("kill", "a rule either kills or answers an error, not both")
    if not kill and error is None and latency_ms is None:
        raise RuleError("error", "a rule needs an error, latency_ms or kill")

    return Rule(
        service=service,
        operations=operations,
        resource=_optional_str(doc, "resource"),
        caller=_optional_str(doc, "caller"),
        body_contains=_optional_str(doc, "body_contains"),
        error=error,
        latency_ms=int(latency_ms) if latency_ms is not None else None,
        probability=float(probability),
        count=count,
        kill=kill,
    )


def parse_rules_body(doc) -> list[Rule]:
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise RuleError("rules", 'the body must be {"rules": [rule, ...]}')
    if not doc["rules"]:
        raise RuleError("rules", "at least one rule")
    rules = []
    for index, rule_doc in enumerate(doc["rules"]):
        try:
            rules.append(parse_rule(rule_doc))
        except RuleError as e:
            raise RuleError(f"rules[{index}].{e.field}", str(e).split(": ", 1)[1]) from e
    return rules


@dataclass(frozen=True)
class Call:
    """What the gateway knows of one AWS request."""

    service: str
    operation: str
    resources: tuple[str, ...] = ()
    caller: str | None = None
    # The raw body is read only when a rule asks for it (most requests never need it).
    body: Callable[[], bytes] = field(default=lambda: b"")
    has_environment: bool = False  # the caller's execution environment can be killed


@dataclass
class Decision:
    """What to do to one request: wait, then answer an error or kill the caller (or serve it)."""

    latency_ms: int = 0
    rule: Rule | None = None  # the rule that answers with an error or kills

    @property
    def error(self) -> str | None:
        return self.rule.error if self.rule else None

    @property
    def kill(self) -> bool:
        return bool(self.rule and self.rule.kill)


def _strings(doc) -> Iterable[str]:
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for key, value in doc.items():
            yield key
            yield from _strings(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _strings(value)


def _body_matches(needle: str, body: bytes) -> bool:
    text = body.decode("utf-8", "replace")
    if needle in text:
        return True
    if text.lstrip().startswith("{"):
        # JSON protocols (DynamoDB, SQS): a JSON message inside a string value is escaped there
        # (\"kind\":...); the needle is looked for in the decoded strings too.
        try:
            doc = json.loads(text)
        except ValueError:
            return False
        return any(needle in value for value in _strings(doc))
    # Query-protocol bodies (SNS, SES) are form-encoded: a message's JSON is percent-encoded there.
    return ("%" in text or "+" in text) and needle in urllib.parse.unquote_plus(text)


class FaultRegistry:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, Rule] = {}
        self._injected: Counter[str] = Counter()
        self._rng = rng or random.Random()

    def add(self, rules: Iterable[Rule]) -> list[str]:
        ids = []
        with self._lock:
            for rule in rules:
                rule.id = secrets.token_hex(6)
                self._rules[rule.id] = rule
                ids.append(rule.id)
        return ids

    def remove(self, rule_id: str) -> int:
        with self._lock:
            return 1 if self._rules.pop(rule_id, None) is not None else 0

    def clear(self) -> int:
        with self._lock:
            removed = len(self._rules)
            self._rules.clear()
            return removed

    def rules(self) -> list[dict]:
        with self._lock:
            return [rule.to_json() for rule in self._rules.values()]

    def injected_per_service(self) -> dict[str, int]:
        with self._lock:
            return dict(self._injected)

    def reset_injected(self) -> None:
        with self._lock:
            self._injected.clear()

    def active(self) -> bool:
        return bool(self._rules)  # a racy read is fine: a rule added mid-request applies to the next

    @staticmethod
    def _matches(rule: Rule, call: Call) -> bool:
        if rule.service != call.service:
            return False
        if rule.operations is not None and call.operation not in rule.operations:
            return False
        if rule.caller is not None and rule.caller != call.caller:
            return False
        if rule.resource is not None and not any(rule.resource in r for r in call.resources):
            return False
        if rule.kill and not call.has_environment:
            return False
        return rule.body_contains is None or _body_matches(rule.body_contains, call.body())

    def decide(self, call: Call) -> Decision | None:
        """Rules in the order they were added: latency-only hits add up, the first error or kill
        hit ends the search. None when nothing applies (the request is served as usual)."""
        if not self._rules:
            return None
        decision = Decision()
        hit = False
        with self._lock:
            for rule in list(self._rules.values()):
                if rule.spent() or not self._matches(rule, call):
                    continue
                rule.matched += 1
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.injected += 1
                self._injected[call.service] += 1
                hit = True
                decision.latency_ms += rule.latency_ms or 0
                if rule.error is not None or rule.kill:
                    decision.rule = rule
                    break
        return decision if hit else None


class RequestCounts:
    """Requests served per (service, operation, caller): one lock, one dictionary update each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str | None]] = Counter()

    def count(self, service: str, operation: str, caller: str | None) -> None:
        with self._lock:
            self._counts[(service, operation, caller)] += 1

    def snapshot(self) -> list[dict]:
        with self._lock:
            items = list(self._counts.items())
        items.sort(key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
        return [{"service": s, "operation": o, "caller": c, "count": n} for (s, o, c), n in items]

    def reset(self) -> int:
        with self._lock:
            removed = len(self._counts)
            self._counts.clear()
            return removed


# --------------------------------------------------------------------------------------------
# Who is calling: each execution environment gets an access key of its own.
# --------------------------------------------------------------------------------------------

# 20 characters that LocalStack maps to the default account 000000000000: not 12 digits and not
# starting with AKIA/ASIA/LKIA/LSIA, the prefixes localstack.aws.accounts decodes into accounts.
CALLER_KEY_PREFIX = "OFLE"
CALLER_KEY_LENGTH = 20
_CREDENTIAL = re.compile(r"Credential=([A-Za-z0-9]+)/")


def access_key_of(authorization: str | None) -> str | None:
    """The access key id of a SigV4 Authorization header."""
    if not authorization:
        return None
    match = _CREDENTIAL.search(authorization)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Environment:
    function_name: str
    kill: Callable[[], bool]  # SIGKILLs the environment's process group; False when none runs


class Callers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, Environment] = {}

    def register(self, function_name: str, kill: Callable[[], bool]) -> str:
        key = CALLER_KEY_PREFIX + secrets.token_hex(8).upper()
        with self._lock:
            self._by_key[key] = Environment(function_name, kill)
        return key

    def unregister(self, key: str) -> None:
        with self._lock:
            self._by_key.pop(key, None)

    def lookup(self, access_key: str | None) -> Environment | None:
        if access_key is None or not access_key.startswith(CALLER_KEY_PREFIX):
            return None
        with self._lock:
            return self._by_key.get(access_key)


# --------------------------------------------------------------------------------------------
# DynamoDB transaction conflicts
# --------------------------------------------------------------------------------------------

# How long a TransactWriteItems holds its items. A few milliseconds is what a transaction takes
# on DynamoDB (its two phases across the items' partitions): long enough that transactions
# arriving together really overlap, as they do on AWS, short enough to cost nothing noticeable.
DEFAULT_TRANSACTION_HOLD_MS = 5


class ItemHolds:
    """Items held by running transactions, keyed by (table, primary key)."""

    def __init__(self, hold_ms: int = DEFAULT_TRANSACTION_HOLD_MS) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], object] = {}
        self.hold_ms = hold_ms

    def settings(self) -> dict:
        return {"transaction_hold_ms": self.hold_ms}

    def configure(self, doc) -> dict:
        if not isinstance(doc, dict):
            raise RuleError("transaction_hold_ms", 'the body must be {"transaction_hold_ms": N}')
        unknown = sorted(set(doc) - {"transaction_hold_ms"})
        if unknown:
            raise RuleError(unknown[0], "unknown field (known: transaction_hold_ms)")
        value = doc.get("transaction_hold_ms")
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 60_000:
            raise RuleError("transaction_hold_ms", "must be an integer between 0 and 60000")
        self.hold_ms = value
        return self.settings()

    def acquire(self, keys: list[tuple[str, str]], owner: object) -> int | None:
        """Holds every key for owner, or none: returns the index of the first key another
        transaction holds (nothing is then held), else None."""
        with self._lock:
            for index, key in enumerate(keys):
                holder = self._held.get(key)
                if holder is not None and holder is not owner:
                    return index
            for key in keys:
                self._held[key] = owner
        return None

    def release(self, keys: list[tuple[str, str]], owner: object) -> None:
        with self._lock:
            for key in keys:
                if self._held.get(key) is owner:
                    del self._held[key]

    def is_held(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return key in self._held


# The process-wide instances the gateway and the executor share.
REGISTRY = FaultRegistry()
COUNTS = RequestCounts()
CALLERS = Callers()
HOLDS = ItemHolds()
