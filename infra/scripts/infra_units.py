"""Shared by infra/scripts/units, infra/scripts/generate-template and infra/tests: the repo's
paths, a YAML loader and emitter that keep CloudFormation short tags (!Ref, !GetAtt, !Sub, ...),
infra/consumers.yaml read and checked, and the per-consumer part of infra/template.yaml rendered
from it."""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
CONSUMERS_FILE = REPO / "infra" / "consumers.yaml"
EVENTS_LIB = REPO / "crates" / "orderflow-events" / "src" / "lib.rs"
TOOLS_VENV = REPO / ".venv" / "tools"
GENERATE_COMMAND = "infra/scripts/generate-template"

BEGIN_MARKER = "# --- BEGIN generated from infra/consumers.yaml by infra/scripts/generate-template: do not edit ---"
END_MARKER = "# --- END generated ---"


def reexec_in_tools_venv() -> None:
    """Run the calling script with .venv/tools' python (PyYAML pinned there), creating the venv
    first (infra/scripts/tools-venv: quick when it is up to date)."""
    if Path(sys.prefix).resolve() == TOOLS_VENV.resolve():
        return
    import subprocess

    subprocess.run([str(REPO / "infra" / "scripts" / "tools-venv")], check=True)
    python = TOOLS_VENV / "bin" / "python"
    os.execv(python, [str(python), os.path.abspath(sys.argv[0]), *sys.argv[1:]])


# --- YAML with CloudFormation short tags -------------------------------------------------------

class Tag:
    """A CloudFormation short-form value: `!Ref X` is Tag("Ref", "X")."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value):
        self.name, self.value = name, value

    def __eq__(self, other):
        return isinstance(other, Tag) and (self.name, self.value) == (other.name, other.value)

    def __hash__(self):
        return hash((self.name, repr(self.value)))

    def __repr__(self):
        return f"!{self.name} {self.value!r}"


def load_yaml(text: str):
    """Parse YAML keeping CloudFormation short tags as Tag objects."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return Tag(suffix, value)

    Loader.add_multi_constructor("!", construct)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader plus the tag constructor


_PLAIN = re.compile(r"[A-Za-z0-9_./(][^\n]*")
_PLAIN_IN_FLOW = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./:+=-]*")
_MAX_FLOW = 110


def scalar(value, flow: bool = False) -> str:
    """One scalar as the hand-written template writes it: plain when that reads back as the same
    string, else double-quoted (JSON escaping is valid YAML); strings with ${...} always quoted."""
    import yaml

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"cannot emit {value!r}")
    plain = (_PLAIN_IN_FLOW if flow else _PLAIN).fullmatch(value) and "${" not in value
    plain = plain and ": " not in value and " #" not in value and value == value.strip()
    if plain:
        try:
            plain = yaml.safe_load(value) == value
        except yaml.YAMLError:
            plain = False
    return value if plain else json.dumps(value)


def _flow(value) -> str | None:
    """The value on one line ([a, b], !Ref X, !Select [1, ...]), or None if it needs a block."""
    if isinstance(value, Tag):
        inner = _flow(value.value)
        return None if inner is None else f"!{value.name} {inner}"
    if isinstance(value, list):
        items = [_flow(v) for v in value]
        return None if None in items else "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        return None
    return scalar(value, flow=True)


def emit(value, indent: int) -> list[str]:
    """Block YAML lines of a mapping or sequence at `indent` spaces."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            lines += _entry(f"{pad}{key}:", item, indent)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                inner = emit(item, indent + 2)
                lines.append(f"{pad}- {inner[0].lstrip()}")
                lines += inner[1:]
            else:
                lines += _entry(f"{pad}-", item, indent)
    else:
        raise TypeError(f"emit wants a mapping or a sequence, not {value!r}")
    return lines


def _entry(head: str, item, indent: int) -> list[str]:
    one_line = None if isinstance(item, dict) else _flow(item)
    if one_line is not None and len(head) + 1 + len(one_line) <= _MAX_FLOW:
        return [f"{head} {one_line}"]
    if not isinstance(item, (Tag, list, dict)):
        return [f"{head} {scalar(item)}"]
    if isinstance(item, Tag):
        if not isinstance(item.value, (list, dict)):
            return [f"{head} !{item.name} {scalar(item.value)}"]
        return [f"{head} !{item.name}"] + emit(item.value, indent + 2)
    if not item:
        return [f"{head} {'{}' if isinstance(item, dict) else '[]'}"]
    return [head] + emit(item, indent + 2)


def to_cfn(value):
    """Short tags to the long JSON forms (!Ref X -> {"Ref": X}, !GetAtt A.B -> {"Fn::GetAtt": [A, B]},
    !Sub s -> {"Fn::Sub": s}), as samcli's YAML loader and CloudFormation read them."""
    if isinstance(value, Tag):
        inner = to_cfn(value.value)
        if value.name in ("Ref", "Condition"):
            return {value.name: inner}
        if value.name == "GetAtt" and isinstance(inner, str):
            inner = inner.split(".", 1)
        return {f"Fn::{value.name}": inner}
    if isinstance(value, list):
        return [to_cfn(v) for v in value]
    if isinstance(value, dict):
        return {k: to_cfn(v) for k, v in value.items()}
    return value


# --- the events crate --------------------------------------------------------------------------

def rust_consts(path: Path = EVENTS_LIB) -> dict[str, str]:
    """`pub const NAME: &str = "value";` from the events crate: the single source of truth."""
    text = path.read_text()
    consts = dict(re.findall(r'pub\s+const\s+([A-Z0-9_]+)\s*:\s*&(?:\'static\s+)?str\s*=\s*"([^"]*)"\s*;', text))
    if not consts:
        raise ConsumerError(f"no string constants found in {path}")
    return consts


def snake(pascal: str) -> str:
    """OrderPlaced -> ORDER_PLACED."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", pascal).upper()


# --- infra/consumers.yaml ----------------------------------------------------------------------

class ConsumerError(Exception):
    """infra/consumers.yaml (or the template around the generated part) is not usable."""


DEFAULTS = {"timeout": 10, "batch_size": 10, "batching_window": 1}
MAX_RECEIVE_COUNT = 5
VISIBILITY_FACTOR = 6  # AWS guidance for SQS event sources: >= 6 x the function timeout
DYNAMODB_ACTIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem", "Query",
                    "BatchGetItem", "BatchWriteItem"}
# What the consumer core calls on its records (orderflow-consumer/src/dynamodb.rs): a read of who
# holds a key, the conditional puts of claim and completion, the delete of a released claim.
IDEMPOTENCY_ACTIONS = ["GetItem", "PutItem", "DeleteItem"]
_KEYS = {"name", "description", "subscribes", "timeout", "memory", "batch_size", "batching_window",
         "max_concurrency", "event_name", "tables", "uses_tables", "publishes", "timer", "environment",
         "statements"}
_REQUIRED = ("name", "description", "subscribes", "max_concurrency")
_TABLE_KEYS = {"name", "hash_key", "ttl", "actions", "sid", "gsis"}
_GSI_KEYS = {"name", "hash_key", "range_key"}
_USED_TABLE_KEYS = {"ref", "env", "actions", "sid"}
_TIMER_KEYS = {"subscribes", "delay_seconds", "delay_env"}
# SQS DelaySeconds is at most 15 minutes.
MAX_DELAY_SECONDS = 900
# A producer writes its outbox entry inside its own transaction (a Put: dynamodb:PutItem) and
# marks it published after the publish (Announcer: dynamodb:UpdateItem); the relay does the rest
# with its own role. IAM has no TransactWriteItems action: each item of a transaction is
# authorised as its own PutItem/UpdateItem/ConditionCheckItem/DeleteItem.
OUTBOX_ACTIONS = ["PutItem", "UpdateItem"]
# Publishing to the topic encrypted with AppKey needs a data key (and to decrypt it), as the order
# API's role has it.
TOPIC_KMS_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"]
# Tables a consumer cannot name in uses_tables: the generator wires them itself.
_GENERATED_TABLE_REFS = {"IdempotencyTable": "is every consumer's already",
                         "OutboxTable": "comes with `publishes:`"}
# The statements every consumer role starts with (the _FUNCTION text below).
FIXED_SIDS = ("Logs", "XRayHasNoResourceLevelPermissions", "ConsumeQueue", "EncryptedQueue", "ParkInDeadLetterQueue",
              "EncryptedDeadLetterQueue", "Idempotency")
# `subscribes: all`: the SQS event's default name (there is no first type to name it after).
ALL_EVENTS_EVENT = "AllEvents"
# A queue age alarm fires after this many seconds on top of the queue's delay.
QUEUE_AGE_THRESHOLD = 300


@dataclass
class Table:
    name: str  # PascalCase: <name>Table, <NAME>_TABLE_NAME, <name>TableName
    hash_key: str
    actions: list[str]
    ttl: bool = False
    sid: str = ""
    gsis: list[Gsi] = field(default_factory=list)

    @property
    def logical_id(self) -> str:
        return f"{self.name}Table"

    def key_attributes(self) -> list[str]:
        """Every attribute a key of the table or of an index uses, each once (AttributeDefinitions)."""
        names = [self.hash_key]
        for g in self.gsis:
            names += [g.hash_key] + ([g.range_key] if g.range_key else [])
        return list(dict.fromkeys(names))

    @property
    def env(self) -> str:
        return f"{snake(self.name)}_TABLE_NAME"


@dataclass
class Gsi:
    """A global secondary index (projection ALL, string keys)."""
    name: str
    hash_key: str
    range_key: str | None = None


@dataclass
class UsedTable:
    """A table of the template the consumer does not own (e.g. the order service's OrdersTable)."""
    ref: str  # its logical id
    env: str  # the variable holding its name
    actions: list[str]
    sid: str


@dataclass
class Timer:
    """A second queue, subscribed like the first but with a delivery delay, feeding the same function."""
    subscribes: dict[str, int]
    delay: object  # seconds (int) or Tag("Ref", <a Number parameter>)
    delay_env: str | None = None  # variable set to the same value as the delay

    @property
    def version(self) -> int:
        return next(iter(self.subscribes.values()))


@dataclass
class Queue:
    """One subscribed queue of a consumer: logical prefix <prefix>Queue/<prefix>Dlq, physical name."""
    prefix: str
    physical: str
    subscribes: dict[str, int]
    delay: object = None  # None: no DelaySeconds
    label: str = ""  # words for alarm descriptions ("", "timer ")
    all: bool = False  # subscribed without a filter policy: every event, any type or version

    @property
    def version(self) -> int:
        return next(iter(self.subscribes.values()))


@dataclass
class Consumer:
    name: str  # kebab-case: binary, SERVICE_NAME, physical names
    description: str
    subscribes: dict[str, int]  # event type -> major version ({} with subscribes_all)
    max_concurrency: int
    timeout: int = DEFAULTS["timeout"]
    memory: int | None = None
    batch_size: int = DEFAULTS["batch_size"]
    batching_window: int = DEFAULTS["batching_window"]
    tables: list[Table] = field(default_factory=list)
    uses_tables: list[UsedTable] = field(default_factory=list)
    publishes: list[str] = field(default_factory=list)
    timer: Timer | None = None
    event_name: str = ""  # the SAM event of its queue [the first subscribed type]
    environment: dict = field(default_factory=dict)
    statements: list = field(default_factory=list)
    subscribes_all: bool = False  # `subscribes: all`: no filter policy

    @property
    def pascal(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("-"))

    @property
    def title(self) -> str:
        return self.name[0].upper() + self.name[1:]

    @property
    def version(self) -> int:
        return next(iter(self.subscribes.values()))

    @property
    def event(self) -> str:
        """The SAM event's name: the mapping's logical id is <Name>Function<event>."""
        return self.event_name or (ALL_EVENTS_EVENT if self.subscribes_all else next(iter(self.subscribes)))

    @property
    def visibility_timeout(self) -> int:
        return VISIBILITY_FACTOR * self.timeout

    def queues(self) -> list[Queue]:
        """Its subscribed queues: <Name>Queue, and <Name>TimerQueue when it has a timer."""
        queues = [Queue(self.pascal, self.name, self.subscribes, all=self.subscribes_all)]
        if self.timer:
            queues.append(Queue(f"{self.pascal}Timer", f"{self.name}-timer", self.timer.subscribes,
                                self.timer.delay, "timer "))
        return queues

    def logical_ids(self) -> list[str]:
        p = self.pascal
        ids = [t.logical_id for t in self.tables]
        for q in self.queues():
            ids += [f"{q.prefix}{s}" for s in ("Dlq", "Queue", "QueuePolicy", "Subscription", "DlqNotEmptyAlarm",
                                               "DlqArrivalAlarm", "QueueAgeAlarm")]
        return ids + [f"{p}{s}" for s in ("LogGroup", "Role", "Function", "ErrorsAlarm", "ThrottlesAlarm",
                                          "ParkedEventsAlarm", "FailedEventsAlarm")]

    def output_names(self) -> list[str]:
        names = []
        for q in self.queues():
            names += [f"{q.prefix}QueueUrl", f"{q.prefix}DlqUrl"]
        names.insert(2, f"{self.pascal}FunctionName")
        return names + [f"{t.name}TableName" for t in self.tables]

    def generated_env(self) -> dict:
        """The variables the generator sets besides SERVICE_NAME (and LOG_LEVEL from Globals)."""
        env = {"IDEMPOTENCY_TABLE_NAME": Tag("Ref", "IdempotencyTable"),
               # Where the batch core parks what it can never process: the main DLQ, also for
               # messages from the timer queue (whose own DLQ keeps its redrive policy's).
               "DEAD_LETTER_QUEUE_URL": Tag("Ref", f"{self.pascal}Dlq")}
        env.update({t.env: Tag("Ref", t.logical_id) for t in self.tables})
        env.update({u.env: Tag("Ref", u.ref) for u in self.uses_tables})
        if self.publishes:
            env.update({"OUTBOX_TABLE_NAME": Tag("Ref", "OutboxTable"),
                        "ORDER_EVENTS_TOPIC_ARN": Tag("Ref", "OrderEventsTopic")})
        if self.timer and self.timer.delay_env:
            delay = self.timer.delay
            env[self.timer.delay_env] = delay if isinstance(delay, Tag) else str(delay)
        return env

    def generated_statements(self) -> list[dict]:
        """The role's statements after Logs, X-Ray, ConsumeQueue, EncryptedQueue and Idempotency."""
        statements = [{"Sid": t.sid, "Effect": "Allow", "Action": [f"dynamodb:{a}" for a in t.actions],
                       "Resource": Tag("GetAtt", f"{t.logical_id}.Arn")} for t in self.tables]
        statements += [{"Sid": u.sid, "Effect": "Allow", "Action": [f"dynamodb:{a}" for a in u.actions],
                        "Resource": Tag("GetAtt", f"{u.ref}.Arn")} for u in self.uses_tables]
        if self.publishes:
            statements += [
                {"Sid": "Outbox", "Effect": "Allow", "Action": [f"dynamodb:{a}" for a in OUTBOX_ACTIONS],
                 "Resource": Tag("GetAtt", "OutboxTable.Arn")},
                {"Sid": "Publish", "Effect": "Allow", "Action": "sns:Publish",
                 "Resource": Tag("Ref", "OrderEventsTopic")},
                {"Sid": "EncryptedTopic", "Effect": "Allow", "Action": list(TOPIC_KMS_ACTIONS),
                 "Resource": Tag("GetAtt", "AppKey.Arn")},
            ]
        return statements


def _int(where: str, value, low: int, high: int, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConsumerError(f"{where}: must be an integer from {low} to {high}{why}, not {value!r}")
    return value


def _event_type(where: str, field_name: str, event_type, event_types: set[str]) -> str:
    if event_type not in event_types:
        raise ConsumerError(
            f"{where}: {field_name} unknown event type {event_type!r}; known (the *_EVENT_TYPE "
            f"constants of {EVENTS_LIB.relative_to(REPO)}): {', '.join(sorted(event_types))}")
    return event_type


def _subscribes(where: str, field_name: str, subscribes, consts: dict[str, str], event_types: set[str]) -> dict:
    """A checked `event type -> major version` mapping (one filter policy)."""
    if not isinstance(subscribes, dict) or not subscribes:
        raise ConsumerError(f"{where}: {field_name} must map event types to versions, e.g. {{ OrderPlaced: 1 }}")
    for event_type, version in subscribes.items():
        _event_type(where, f"{field_name} to", event_type, event_types)
        _int(f"{where}: {field_name}.{event_type}", version, 1, 999)
        const = f"{snake(event_type)}_V{version}_VERSION"
        if consts.get(const) != str(version):
            raise ConsumerError(
                f"{where}: {event_type} v{version} is not in the events crate (no {const} = \"{version}\")")
    if len(set(subscribes.values())) != 1:
        # One filter policy is an AND of attributes: event_type [A, B] + event_version [1, 2]
        # would also admit A v2. Mixed versions need a second queue (or an $or filter).
        raise ConsumerError(
            f"{where}: every event type of {field_name} must have the same version, not {subscribes}")
    return dict(subscribes)


def _actions(where: str, actions) -> list[str]:
    if not isinstance(actions, list) or not actions or not set(actions) <= DYNAMODB_ACTIONS \
            or len(set(actions)) != len(actions):
        known = ", ".join(sorted(DYNAMODB_ACTIONS))
        raise ConsumerError(f"{where}: actions must be a non-empty list of distinct DynamoDB item actions "
                            f"without the dynamodb: prefix ({known}), not {actions!r}")
    return list(actions)


def _env_name(where: str, var) -> str:
    if not isinstance(var, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", var):
        raise ConsumerError(f"{where}: environment variable {var!r} must be UPPER_SNAKE_CASE")
    return var


def parse_consumers(data, consts: dict[str, str]) -> list[Consumer]:
    """Checks every entry and returns them; any problem raises ConsumerError naming the entry."""
    if not isinstance(data, dict) or set(data) != {"consumers"} or not isinstance(data["consumers"], list):
        raise ConsumerError("consumers.yaml: expected exactly one top-level key `consumers:` holding a list")
    event_types = {v for k, v in consts.items() if k.endswith("_EVENT_TYPE")}
    consumers, names, tables = [], set(), set()
    for i, entry in enumerate(data["consumers"]):
        label = entry.get("name", f"#{i + 1}") if isinstance(entry, dict) else f"#{i + 1}"
        where = f"consumers.yaml: consumer {label!r}"
        if not isinstance(entry, dict):
            raise ConsumerError(f"{where}: an entry is a mapping (name, description, subscribes, ...)")
        missing = [k for k in _REQUIRED if k not in entry]
        if missing:
            raise ConsumerError(f"{where}: missing required field(s) {', '.join(missing)}")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise ConsumerError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
        name = entry["name"]
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name):
            raise ConsumerError(f"{where}: name must be kebab-case (the cargo binary), not {name!r}")
        if name in names:
            raise ConsumerError(f"{where}: listed twice")
        names.add(name)
        if not isinstance(entry["description"], str) or not entry["description"].strip():
            raise ConsumerError(f"{where}: description must be a non-empty string")

        # `all`: the queue takes every event of the topic (no filter policy), any type or version,
        # including types no crate knows yet (the event store).
        subscribes_all = entry["subscribes"] == "all"
        subscribes = {} if subscribes_all else _subscribes(where, "subscribes", entry["subscribes"], consts,
                                                          event_types)

        consumer = Consumer(
            name=name, description=entry["description"].strip(), subscribes=dict(subscribes),
            max_concurrency=_int(f"{where}: max_concurrency", entry["max_concurrency"], 2, 1000,
                                 " (ScalingConfig.MaximumConcurrency)"),
            timeout=_int(f"{where}: timeout", entry.get("timeout", DEFAULTS["timeout"]), 1, 900),
            memory=None if entry.get("memory") is None else _int(f"{where}: memory", entry["memory"], 128, 10240),
            batch_size=_int(f"{where}: batch_size", entry.get("batch_size", DEFAULTS["batch_size"]), 1, 10,
                            " (more would need a batching window and a longer visibility timeout)"),
            batching_window=_int(f"{where}: batching_window", entry.get("batching_window", DEFAULTS["batching_window"]),
                                 0, 20),
            subscribes_all=subscribes_all,
        )
        event_name = entry.get("event_name")
        if event_name is not None:
            if not isinstance(event_name, str) or not re.fullmatch(r"[A-Z][A-Za-z0-9]*", event_name) \
                    or event_name == "Timer":
                raise ConsumerError(f"{where}: event_name must be PascalCase and not Timer, not {event_name!r}")
            consumer.event_name = event_name
        generated_env = {"SERVICE_NAME", "LOG_LEVEL", "IDEMPOTENCY_TABLE_NAME", "DEAD_LETTER_QUEUE_URL"}
        for j, t in enumerate(entry.get("tables") or []):
            tw = f"{where}: tables[{j}]"
            if not isinstance(t, dict):
                raise ConsumerError(f"{tw}: a table is a mapping (name, hash_key, actions)")
            missing = [k for k in ("name", "hash_key", "actions") if k not in t]
            if missing:
                raise ConsumerError(f"{tw}: missing required field(s) {', '.join(missing)}")
            unknown = sorted(set(t) - _TABLE_KEYS)
            if unknown:
                known = ", ".join(sorted(_TABLE_KEYS))
                raise ConsumerError(f"{tw}: unknown field(s) {', '.join(unknown)} (known: {known})")
            if not isinstance(t["name"], str) or not re.fullmatch(r"[A-Z][A-Za-z0-9]*", t["name"]):
                raise ConsumerError(f"{tw}: name must be PascalCase (-> <Name>Table), not {t['name']!r}")
            if t["name"].endswith("Table"):
                raise ConsumerError(f"{tw}: name {t['name']!r} without the Table suffix (it is added)")
            if t["name"] in tables or t["name"] == "Idempotency":
                raise ConsumerError(f"{tw}: table {t['name']} is already defined")
            tables.add(t["name"])
            if not isinstance(t["hash_key"], str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", t["hash_key"]):
                raise ConsumerError(f"{tw}: hash_key must be an attribute name, not {t['hash_key']!r}")
            actions = _actions(tw, t["actions"])
            if not isinstance(t.get("ttl", False), bool):
                raise ConsumerError(f"{tw}: ttl is true or false")
            sid = t.get("sid", t["name"])
            if not isinstance(sid, str) or not re.fullmatch(r"[A-Za-z0-9]+", sid):
                raise ConsumerError(f"{tw}: sid must be alphanumeric, not {sid!r}")
            gsis = t.get("gsis") or []
            if not isinstance(gsis, list):
                raise ConsumerError(f"{tw}: gsis is a list of {{name, hash_key, range_key}}")
            table = Table(name=t["name"], hash_key=t["hash_key"], actions=list(actions), ttl=t.get("ttl", False),
                          sid=sid)
            for k, g in enumerate(gsis):
                gw = f"{tw}: gsis[{k}]"
                if not isinstance(g, dict) or not {"name", "hash_key"} <= set(g) or set(g) - _GSI_KEYS:
                    raise ConsumerError(f"{gw}: an index is a mapping of name, hash_key and range_key (optional)")
                if not isinstance(g["name"], str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", g["name"]) \
                        or g["name"] in {x.name for x in table.gsis}:
                    raise ConsumerError(f"{gw}: name must be alphanumeric and distinct, not {g['name']!r}")
                for key in ("hash_key", "range_key"):
                    if key in g and (not isinstance(g[key], str)
                                     or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", g[key])):
                        raise ConsumerError(f"{gw}: {key} must be an attribute name, not {g[key]!r}")
                table.gsis.append(Gsi(name=g["name"], hash_key=g["hash_key"], range_key=g.get("range_key")))
            consumer.tables.append(table)
            generated_env.add(table.env)

        used = entry.get("uses_tables") or []
        if not isinstance(used, list):
            raise ConsumerError(f"{where}: uses_tables is a list of {{ref, env, actions}}")
        for j, u in enumerate(used):
            uw = f"{where}: uses_tables[{j}]"
            if not isinstance(u, dict):
                raise ConsumerError(f"{uw}: a used table is a mapping (ref, env, actions)")
            missing = [k for k in ("ref", "env", "actions") if k not in u]
            if missing:
                raise ConsumerError(f"{uw}: missing required field(s) {', '.join(missing)}")
            unknown = sorted(set(u) - _USED_TABLE_KEYS)
            if unknown:
                known = ", ".join(sorted(_USED_TABLE_KEYS))
                raise ConsumerError(f"{uw}: unknown field(s) {', '.join(unknown)} (known: {known})")
            ref = u["ref"]
            if not isinstance(ref, str) or not re.fullmatch(r"[A-Z][A-Za-z0-9]*Table", ref):
                raise ConsumerError(f"{uw}: ref must be a table's logical id (<Name>Table), not {ref!r}")
            if ref in _GENERATED_TABLE_REFS:
                raise ConsumerError(f"{uw}: {ref} {_GENERATED_TABLE_REFS[ref]}; do not list it")
            if ref in {t.logical_id for t in consumer.tables} or ref in {x.ref for x in consumer.uses_tables}:
                raise ConsumerError(f"{uw}: {ref} is already a table of this consumer")
            var = _env_name(uw, u["env"])
            if var in generated_env:
                raise ConsumerError(f"{uw}: environment variable {var} is already set")
            sid = u.get("sid", ref[:-len("Table")])
            if not isinstance(sid, str) or not re.fullmatch(r"[A-Za-z0-9]+", sid):
                raise ConsumerError(f"{uw}: sid must be alphanumeric, not {sid!r}")
            consumer.uses_tables.append(UsedTable(ref=ref, env=var, actions=_actions(uw, u["actions"]), sid=sid))
            generated_env.add(var)

        publishes = entry.get("publishes") or []
        if not isinstance(publishes, list) or (entry.get("publishes") is not None and not publishes):
            raise ConsumerError(f"{where}: publishes is a non-empty list of event types, e.g. [StockReserved]")
        for event_type in publishes:
            _event_type(where, "publishes", event_type, event_types)
        if len(set(publishes)) != len(publishes):
            raise ConsumerError(f"{where}: publishes lists an event type twice: {publishes}")
        consumer.publishes = list(publishes)
        if publishes:
            generated_env |= {"OUTBOX_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"}

        timer = entry.get("timer")
        if timer is not None:
            tw = f"{where}: timer"
            if not isinstance(timer, dict):
                raise ConsumerError(f"{tw}: a mapping (subscribes, delay_seconds, delay_env)")
            missing = [k for k in ("subscribes", "delay_seconds") if k not in timer]
            if missing:
                raise ConsumerError(f"{tw}: missing required field(s) {', '.join(missing)}")
            unknown = sorted(set(timer) - _TIMER_KEYS)
            if unknown:
                known = ", ".join(sorted(_TIMER_KEYS))
                raise ConsumerError(f"{tw}: unknown field(s) {', '.join(unknown)} (known: {known})")
            delay = timer["delay_seconds"]
            if isinstance(delay, Tag):
                if delay.name != "Ref" or not isinstance(delay.value, str):
                    raise ConsumerError(f"{tw}: delay_seconds is seconds or !Ref <a Number parameter>, not {delay!r}")
            else:
                _int(f"{tw}: delay_seconds", delay, 0, MAX_DELAY_SECONDS, " (SQS DelaySeconds)")
            delay_env = timer.get("delay_env")
            if delay_env is not None:
                _env_name(tw, delay_env)
                if delay_env in generated_env:
                    raise ConsumerError(f"{tw}: environment variable {delay_env} is already set")
                generated_env.add(delay_env)
            consumer.timer = Timer(subscribes=_subscribes(where, "timer.subscribes", timer["subscribes"], consts,
                                                          event_types),
                                   delay=delay, delay_env=delay_env)

        env = entry.get("environment") or {}
        if not isinstance(env, dict):
            raise ConsumerError(f"{where}: environment maps variable names to values")
        for var, value in env.items():
            _env_name(where, var)
            if var in generated_env:
                raise ConsumerError(f"{where}: environment variable {var} is generated; do not set it")
            if isinstance(value, (dict, list)) or value is None:
                raise ConsumerError(f"{where}: environment.{var} must be a string or a !Ref/!Sub/..., not {value!r}")
        consumer.environment = {k: (v if isinstance(v, (str, Tag)) else str(v)) for k, v in env.items()}

        statements = entry.get("statements") or []
        sids = set(FIXED_SIDS)
        generated = [st["Sid"] for st in consumer.generated_statements()]
        sids |= set(generated)
        if len(sids) != len(FIXED_SIDS) + len(generated):
            raise ConsumerError(f"{where}: table sids must be distinct and not one of the generated statements' "
                                f"({', '.join(FIXED_SIDS)}, Outbox, Publish, EncryptedTopic)")
        if not isinstance(statements, list):
            raise ConsumerError(f"{where}: statements is a list of IAM statements")
        for j, st in enumerate(statements):
            sw = f"{where}: statements[{j}]"
            if not isinstance(st, dict) or not {"Sid", "Effect", "Action", "Resource"} <= set(st):
                raise ConsumerError(f"{sw}: an IAM statement with Sid, Effect, Action and Resource")
            if st["Sid"] in sids:
                raise ConsumerError(f"{sw}: Sid {st['Sid']} is used twice in the role")
            sids.add(st["Sid"])
            for action in st["Action"] if isinstance(st["Action"], list) else [st["Action"]]:
                if not isinstance(action, str) or "*" in action:
                    raise ConsumerError(f"{sw}: no wildcard actions ({action!r})")
        consumer.statements = statements
        consumers.append(consumer)
    if not consumers:
        raise ConsumerError("consumers.yaml: no consumers")
    return consumers


def load_consumers(path: Path = CONSUMERS_FILE, consts: dict[str, str] | None = None) -> list[Consumer]:
    try:
        data = load_yaml(path.read_text())
    except Exception as error:  # YAML syntax errors, unreadable file
        raise ConsumerError(f"{path}: {error}") from error
    return parse_consumers(data, rust_consts() if consts is None else consts)


def consumer_names(path: Path = CONSUMERS_FILE) -> list[str]:
    """The names only, without the checks (for infra/scripts/units)."""
    return [c["name"] for c in load_yaml(path.read_text())["consumers"]]


def template_functions(doc) -> list[str]:
    """Binary names of the template's AWS::Serverless::Function resources, in template order."""
    return [r["Metadata"]["BuildProperties"]["Binary"] for r in doc["Resources"].values()
            if r.get("Type") == "AWS::Serverless::Function"]


# --- rendering ---------------------------------------------------------------------------------

def _rule(title: str) -> str:
    return f"  # --- {title} ".ljust(97, "-")


def _fill(text: str, **values) -> list[str]:
    """The text with each @KEY@ replaced; a line that is only an empty @KEY@ is dropped."""
    lines = []
    for line in text.strip("\n").split("\n"):
        m = re.fullmatch(r"@([A-Z_]+)@", line)
        if m and values.get(m.group(1)) == "":
            continue
        for key, value in values.items():
            line = line.replace(f"@{key}@", str(value))
        lines.append(line)
    return "\n".join(lines).split("\n")


# A consumer's table is its state (reservations, payments, what was sent, ...): it outlives a
# teardown and a replacement like the hand-written tables, and is protected against deletion on AWS
# (infra/template.yaml, "Tables", says why; the README how to remove it on purpose).
_TABLE = """
  @ID@:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      BillingMode: PAY_PER_REQUEST
      DeletionProtectionEnabled: !If [IsLocal, false, true]
      AttributeDefinitions:
@DEFINITIONS@
      KeySchema:
        - { AttributeName: @KEY@, KeyType: HASH }
@GSIS@@TTL@      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }
      SSESpecification: { SSEEnabled: true, SSEType: KMS, KMSMasterKeyId: !Ref AppKey }
"""

_QUEUE = """
  @Q@Dlq:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-@qn@-dlq"
      MessageRetentionPeriod: 1209600 # 14 days
      KmsMasterKeyId: !Ref AppKey
      KmsDataKeyReusePeriodSeconds: 3600
      RedriveAllowPolicy:
        redrivePermission: byQueue
        sourceQueueArns:
          - !Sub "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-@qn@"

  @Q@Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-@qn@"
      VisibilityTimeout: @VISIBILITY@ # >= 6 x @P@Function timeout (@TIMEOUT@ s)
@DELAY@      MessageRetentionPeriod: 345600 # 4 days
      KmsMasterKeyId: !Ref AppKey
      KmsDataKeyReusePeriodSeconds: 3600
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt @Q@Dlq.Arn
        maxReceiveCount: @MAX_RECEIVE@

  @Q@QueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref @Q@Queue]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Sid: OrderEventsTopicOnly
            Effect: Allow
            Principal: { Service: sns.amazonaws.com }
            Action: sqs:SendMessage
            Resource: !GetAtt @Q@Queue.Arn
            Condition:
              ArnEquals:
                aws:SourceArn: !Ref OrderEventsTopic

  @Q@Subscription:
    Type: AWS::SNS::Subscription
    DependsOn: @Q@QueuePolicy
    Properties:
      TopicArn: !Ref OrderEventsTopic
      Protocol: sqs
      Endpoint: !GetAtt @Q@Queue.Arn
      RawMessageDelivery: true
      # A delivery SNS cannot make (queue deleted, policy or key refused) lands in the delivery
      # DLQ, alarmed, instead of being dropped.
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeliveryDlq.Arn
@FILTER@
"""

_FUNCTION = """
  @P@LogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub "/aws/lambda/${AWS::StackName}-@n@"
      RetentionInDays: !Ref LogRetentionDays
      KmsKeyId: !GetAtt AppKey.Arn

  @P@Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: { Service: lambda.amazonaws.com }
            Action: sts:AssumeRole
      Policies:
        - PolicyName: @n@
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Sid: Logs
                Effect: Allow
                Action: [logs:CreateLogStream, logs:PutLogEvents]
                Resource: !GetAtt @P@LogGroup.Arn
              - Sid: XRayHasNoResourceLevelPermissions
                Effect: Allow
                Action: [xray:PutTraceSegments, xray:PutTelemetryRecords]
                Resource: "*"
              - Sid: ConsumeQueue
                Effect: Allow
                Action:
                  - sqs:ReceiveMessage
                  - sqs:DeleteMessage
                  - sqs:ChangeMessageVisibility
                  - sqs:GetQueueAttributes
@CONSUME@
              - Sid: EncryptedQueue
                Effect: Allow
                Action: kms:Decrypt
                Resource: !GetAtt AppKey.Arn
              # The batch core parks a message it can never process (undecodable, rejected) in
              # this DLQ at once, instead of five futile receives; the DLQ is encrypted with AppKey.
              - Sid: ParkInDeadLetterQueue
                Effect: Allow
                Action: sqs:SendMessage
                Resource: !GetAtt @P@Dlq.Arn
              - Sid: EncryptedDeadLetterQueue
                Effect: Allow
                Action: [kms:GenerateDataKey, kms:Decrypt]
                Resource: !GetAtt AppKey.Arn
              # One shared table, partitioned by owner: the consumer core keys its records
              # `<consumer>#<event id>`, and this role may touch only its own.
              - Sid: Idempotency
                Effect: Allow
                Action:
@IDEMPOTENCY_ACTIONS@
                Resource: !GetAtt IdempotencyTable.Arn
                Condition:
                  ForAllValues:StringLike:
                    dynamodb:LeadingKeys: ["@n@#*"]
@STATEMENTS@

  @P@Function:
    Type: AWS::Serverless::Function
    DependsOn: @P@LogGroup
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: @n@
    Properties:
      FunctionName: !Sub "${AWS::StackName}-@n@"
      Description: @DESCRIPTION@
      CodeUri: ..
      Role: !GetAtt @P@Role.Arn
@MEMORY@      Timeout: @TIMEOUT@
      Environment:
        Variables:
          SERVICE_NAME: @n@
          IDEMPOTENCY_TABLE_NAME: !Ref IdempotencyTable
@ENV@
      Events:
        @EVENT@:
          Type: SQS
          Properties:
            Queue: !GetAtt @P@Queue.Arn
            BatchSize: @BATCH@
            MaximumBatchingWindowInSeconds: @WINDOW@
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig:
              MaximumConcurrency: @CONCURRENCY@
@TIMER_EVENT@
"""

_QUEUE_ALARMS = """
  @Q@DlqNotEmptyAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: @T@ @LABEL@messages failed @MAX_RECEIVE@ times and wait in the DLQ (inspect, then redrive)
      Namespace: AWS/SQS
      MetricName: ApproximateNumberOfMessagesVisible
      Dimensions: [{ Name: QueueName, Value: !GetAtt @Q@Dlq.QueueName }]
      Statistic: Maximum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmTopic]
      OKActions: [!Ref AlarmTopic]

  # The not-empty alarm stays in ALARM while anything waits; this one goes back to OK within a
  # minute and fires again on the next arrival, so a second dead letter is not silent.
  @Q@DlqArrivalAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: A new @T@ @LABEL@message reached the DLQ (fires on every arrival)
      Metrics:
        - Id: visible
          ReturnData: false
          MetricStat:
            Metric:
              Namespace: AWS/SQS
              MetricName: ApproximateNumberOfMessagesVisible
              Dimensions: [{ Name: QueueName, Value: !GetAtt @Q@Dlq.QueueName }]
            Period: 60
            Stat: Maximum
        - Id: arrivals
          Label: messages added to the DLQ in the minute
          Expression: DIFF(FILL(visible, 0))
          ReturnData: true
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmTopic]

  @Q@QueueAgeAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: @AGE_DESCRIPTION@
      Namespace: AWS/SQS
      MetricName: ApproximateAgeOfOldestMessage
      Dimensions: [{ Name: QueueName, Value: !GetAtt @Q@Queue.QueueName }]
      Statistic: Maximum
      Period: 60
      EvaluationPeriods: 5
      DatapointsToAlarm: 3
      Threshold: @AGE_THRESHOLD@
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmTopic]
      OKActions: [!Ref AlarmTopic]
"""

_FUNCTION_ALARMS = """
  @P@ErrorsAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: The @n@ function failed whole batches (per-message failures are retried via the queue)
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions: [{ Name: FunctionName, Value: !Ref @P@Function }]
      Statistic: Sum
      Period: 300
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmTopic]

  @P@ThrottlesAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: The @n@ function was throttled
      Namespace: AWS/Lambda
      MetricName: Throttles
      Dimensions: [{ Name: FunctionName, Value: !Ref @P@Function }]
      Statistic: Sum
      Period: 300
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmTopic]

  # The consumer core's EMF metrics (namespace orderflow, dimension Service = SERVICE_NAME).
  @P@ParkedEventsAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: >-
        The @n@ consumer parked messages in its DLQ (a permanent failure or an undecodable body;
        orderflow dlq show @n@ says why)
      Namespace: orderflow
      MetricName: ParkedEvents
      Dimensions: [{ Name: Service, Value: @n@ }]
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmTopic]

  @P@FailedEventsAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: >-
        The @n@ consumer returned messages to its queue every minute for 5 minutes (a dependency
        down, or retries not keeping up)
      Namespace: orderflow
      MetricName: FailedEvents
      Dimensions: [{ Name: Service, Value: @n@ }]
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 5
      DatapointsToAlarm: 5
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref AlarmTopic]
"""

_RESOURCES_INTRO = """
  # Per consumer of OrderEventsTopic (one entry of infra/consumers.yaml each): its tables, a DLQ and
  # a queue subscribed with a filter policy on event type and version, the queue policy admitting
  # only the topic, a log group, a role (its queue, AppKey decrypt, the shared IdempotencyTable, its
  # tables, the tables it uses, the outbox and the topic when it publishes, its extra statements),
  # the function with an SQS event source (partial batch failures, bounded concurrency) and four
  # alarms. A consumer with a timer has a second queue + DLQ (delivery delayed) feeding the same
  # function, with two more alarms. Why a value is what it is: the comments in
  # infra/consumers.yaml. The rules every consumer is held to: infra/tests.
"""


# Who may publish to the order topic: the roles that IAM lets publish there, and nobody else. A Deny
# for every principal whose aws:PrincipalArn is none of them (the account root and any other role
# or user of the account included: an injected OrderPlaced would be acted on by every consumer); it
# denies sns:Publish only, so subscribing, reading and administering the topic stay as IAM allows.
# Generated because the list follows consumers.yaml (`publishes`, or a statement granting it) and
# the hand-written roles that publish (the order API, the relay). A topic policy cannot name event
# types (SNS has no condition key on message attributes), so each producer may publish any type.
_TOPIC_POLICY = """
@RULE@
  # Every role whose policy allows sns:Publish on the topic, found in the template and the entries:
  # any other principal is refused, even with sns:Publish of its own (infra/scripts/infra_units.py).
  # A role replaced by an update may be refused until this policy names the new one: its events
  # wait in the outbox for the relay.
  OrderEventsTopicPolicy:
    Type: AWS::SNS::TopicPolicy
    Properties:
      Topics: [!Ref OrderEventsTopic]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Sid: OnlyProducersPublish
            Effect: Deny
            Principal: "*"
            Action: sns:Publish
            Resource: !Ref OrderEventsTopic
            Condition:
              ArnNotEquals:
                aws:PrincipalArn:
@ROLES@
"""
TOPIC = "OrderEventsTopic"
TOPIC_POLICY = "OrderEventsTopicPolicy"


def grants_publish(statement) -> bool:
    """Whether an IAM statement allows sns:Publish on OrderEventsTopic."""
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
        return False
    actions = statement.get("Action")
    actions = actions if isinstance(actions, list) else [actions]
    resources = statement.get("Resource")
    resources = resources if isinstance(resources, list) else [resources]
    return "sns:Publish" in actions and Tag("Ref", TOPIC) in resources


def publisher_roles(consumers: list[Consumer], hand_doc: dict) -> list[str]:
    """Logical ids of the roles allowed to publish to the topic: hand-written ones (in template
    order), then each consumer's that publishes or has a statement granting it (in entry order)."""
    roles = []
    for name, resource in (hand_doc.get("Resources") or {}).items():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::IAM::Role":
            policies = (resource.get("Properties") or {}).get("Policies") or []
            if any(grants_publish(st) for pol in policies for st in pol["PolicyDocument"]["Statement"]):
                roles.append(name)
    for c in consumers:
        if any(grants_publish(st) for st in c.generated_statements() + c.statements):
            roles.append(f"{c.pascal}Role")
    return roles


def render_topic_policy(roles: list[str]) -> list[str]:
    if not roles:
        raise ConsumerError(f"template: no role may publish to {TOPIC}")
    arns = "\n".join(f"                  - !GetAtt {r}.Arn" for r in roles)
    return _fill(_TOPIC_POLICY, RULE=_rule(f"who may publish to {TOPIC}"), ROLES=arns)


def _statement_lines(st: dict) -> list[str]:
    return emit([st], 14)


def delay_bound(delay, parameters: dict) -> int:
    """The longest the delay can be: the seconds, or the MaxValue of the Number parameter it names."""
    if isinstance(delay, Tag):
        return int(parameters[delay.value]["MaxValue"])
    return delay


def check_references(consumers: list[Consumer], hand_doc: dict) -> None:
    """What only the template can answer: the tables of uses_tables and the timer's parameter exist."""
    resources = hand_doc.get("Resources") or {}
    parameters = hand_doc.get("Parameters") or {}
    conditions = hand_doc.get("Conditions") or {}
    tables = {k for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == "AWS::DynamoDB::Table"}
    tables |= {t.logical_id for c in consumers for t in c.tables}
    for c in consumers:
        where = f"consumers.yaml: consumer {c.name!r}"
        if c.tables and "IsLocal" not in conditions:
            raise ConsumerError(f"{where}: its tables' DeletionProtectionEnabled names the condition IsLocal "
                                "(no protection on LocalStack), which the template does not define")
        for j, u in enumerate(c.uses_tables):
            if u.ref not in tables:
                raise ConsumerError(f"{where}: uses_tables[{j}]: {u.ref} is not a table of the template "
                                    f"(tables: {', '.join(sorted(tables))})")
        if c.timer and isinstance(c.timer.delay, Tag):
            name, param = c.timer.delay.value, parameters.get(c.timer.delay.value)
            if not isinstance(param, dict) or param.get("Type") != "Number":
                raise ConsumerError(
                    f"{where}: timer: delay_seconds names {name}, not a Number parameter of the template")
            low, high = param.get("MinValue"), param.get("MaxValue")
            if not isinstance(low, int) or not isinstance(high, int) or not 0 <= low <= high <= MAX_DELAY_SECONDS:
                raise ConsumerError(f"{where}: timer: parameter {name} needs MinValue >= 0 and MaxValue <= "
                                    f"{MAX_DELAY_SECONDS} (SQS DelaySeconds), not {low!r}..{high!r}")


def render_resources(consumers: list[Consumer], consts: dict[str, str], parameters: dict | None = None) -> list[str]:
    parameters = parameters or {}
    lines = _fill(_RESOURCES_INTRO)
    for c in consumers:
        lines += ["", _rule(f"{c.name} (infra/consumers.yaml)")]
        for t in c.tables:
            ttl = "      TimeToLiveSpecification: { AttributeName: expiresAt, Enabled: true }\n" if t.ttl else ""
            definitions = "\n".join(f"        - {{ AttributeName: {a}, AttributeType: S }}" for a in t.key_attributes())
            gsis = ""
            if t.gsis:
                gsis = "      GlobalSecondaryIndexes:\n"
                for g in t.gsis:
                    gsis += f"        - IndexName: {g.name}\n          KeySchema:\n"
                    gsis += f"            - {{ AttributeName: {g.hash_key}, KeyType: HASH }}\n"
                    if g.range_key:
                        gsis += f"            - {{ AttributeName: {g.range_key}, KeyType: RANGE }}\n"
                    gsis += "          Projection: { ProjectionType: ALL }\n"
            lines += _fill(_TABLE, ID=t.logical_id, KEY=t.hash_key, TTL=ttl, DEFINITIONS=definitions,
                           GSIS=gsis) + [""]
        queues = c.queues()
        for q in queues:
            delay = ""
            if q.delay is not None:
                value = f"!Ref {q.delay.value}" if isinstance(q.delay, Tag) else str(q.delay)
                delay = f"      DelaySeconds: {value} # the timer: each message is delivered only after this\n"
            if q.all:
                # No filter policy: every event of the topic, whatever its type or version.
                policy = ""
            else:
                policy = "\n".join([
                    "      FilterPolicyScope: MessageAttributes",
                    "      FilterPolicy:",
                    f"        {consts['EVENT_TYPE_ATTRIBUTE']}: {_flow(list(q.subscribes))}",
                    f"        {consts['EVENT_VERSION_ATTRIBUTE']}: {_flow([str(q.version)])}"])
            lines += _fill(
                _QUEUE, Q=q.prefix, qn=q.physical, P=c.pascal, VISIBILITY=c.visibility_timeout, TIMEOUT=c.timeout,
                MAX_RECEIVE=MAX_RECEIVE_COUNT, DELAY=delay, FILTER=policy) + [""]
        statements = []
        for st in c.generated_statements() + c.statements:
            statements += _statement_lines(st)
        env = emit(c.generated_env(), 10)[1:]  # IDEMPOTENCY_TABLE_NAME is in the text already
        env += emit(c.environment, 10) if c.environment else []
        if len(queues) == 1:
            consume = f"                Resource: !GetAtt {c.pascal}Queue.Arn"
        else:
            consume = "\n".join(["                Resource:"]
                                 + [f"                  - !GetAtt {q.prefix}Queue.Arn" for q in queues])
        timer_event = ""
        if c.timer:
            timer_event = "\n".join([
                "        Timer:",
                "          Type: SQS",
                "          Properties:",
                f"            Queue: !GetAtt {c.pascal}TimerQueue.Arn",
                f"            BatchSize: {c.batch_size}",
                f"            MaximumBatchingWindowInSeconds: {c.batching_window}",
                "            FunctionResponseTypes: [ReportBatchItemFailures]",
                "            ScalingConfig:",
                f"              MaximumConcurrency: {c.max_concurrency}"])
        lines += _fill(
            _FUNCTION, P=c.pascal, n=c.name, TIMEOUT=c.timeout, CONSUME=consume,
            IDEMPOTENCY_ACTIONS="\n".join(f"                  - dynamodb:{a}" for a in IDEMPOTENCY_ACTIONS),
            STATEMENTS="\n".join(statements), DESCRIPTION=scalar(c.description),
            MEMORY=f"      MemorySize: {c.memory}\n" if c.memory else "", ENV="\n".join(env),
            EVENT=c.event, BATCH=c.batch_size, WINDOW=c.batching_window,
            CONCURRENCY=c.max_concurrency, TIMER_EVENT=timer_event)
        for q in queues:
            if q.delay is None:
                threshold = QUEUE_AGE_THRESHOLD
                age = f"The oldest {c.name} message is older than 5 minutes (consumer stuck or too slow)"
            else:
                # Whether SQS counts the delay in the age is not documented: allow the longest delay too.
                threshold = delay_bound(q.delay, parameters) + QUEUE_AGE_THRESHOLD
                age = (f"The oldest {c.name} {q.label}message is older than its longest delay + 5 minutes "
                       "(consumer stuck or too slow)")
            lines += [""] + _fill(_QUEUE_ALARMS, Q=q.prefix, T=c.title, LABEL=q.label, MAX_RECEIVE=MAX_RECEIVE_COUNT,
                                  AGE_DESCRIPTION=age, AGE_THRESHOLD=threshold)
        lines += [""] + _fill(_FUNCTION_ALARMS, P=c.pascal, n=c.name)
    return lines


def render_outputs(consumers: list[Consumer]) -> list[str]:
    lines = ["  # Per consumer: its queues, DLQs (tools find DLQs as every output ending in DlqUrl), function, tables."]
    for c in consumers:
        p = c.pascal
        pairs = [(f"{p}QueueUrl", f"{p}Queue"), (f"{p}DlqUrl", f"{p}Dlq"), (f"{p}FunctionName", f"{p}Function")]
        pairs += [(f"{q.prefix}QueueUrl", f"{q.prefix}Queue") for q in c.queues()[1:]]
        pairs += [(f"{q.prefix}DlqUrl", f"{q.prefix}Dlq") for q in c.queues()[1:]]
        pairs += [(f"{t.name}TableName", t.logical_id) for t in c.tables]
        lines.append(f"  # {c.name}")
        for output, target in pairs:
            lines += [f"  {output}:", f"    Value: !Ref {target}"]
    return lines


def _top_level_key(lines: list[str], index: int) -> str | None:
    for line in reversed(lines[:index]):
        m = re.match(r"([A-Za-z]+):", line)
        if m:
            return m.group(1)
    return None


def generate(template_text: str, consumers: list[Consumer], consts: dict[str, str]) -> str:
    """The template with both generated parts (Resources, Outputs) replaced; checks the markers and
    that no generated logical id or output is also written by hand."""
    lines = template_text.split("\n")
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN_MARKER]
    ends = [i for i, line in enumerate(lines) if line.strip() == END_MARKER]
    sections = [_top_level_key(lines, i) for i in begins]
    if len(begins) != 2 or len(ends) != 2 or sections != ["Resources", "Outputs"] \
            or not begins[0] < ends[0] < begins[1] < ends[1]:
        raise ConsumerError(
            f"template: expected one '{BEGIN_MARKER}' ... '{END_MARKER}' pair in Resources and one in Outputs")
    (rb, re_), (ob, oe) = (begins[0], ends[0]), (begins[1], ends[1])
    hand = "\n".join(lines[:rb] + lines[re_ + 1:ob] + lines[oe + 1:])
    hand_doc = load_yaml(hand)
    taken = set(hand_doc.get("Resources") or {}) | {f"Outputs.{o}" for o in hand_doc.get("Outputs") or {}}
    if TOPIC_POLICY in taken:
        raise ConsumerError(f"template: {TOPIC_POLICY} is generated (it lists every publishing role); "
                            "remove the hand-written one")
    for c in consumers:
        clash = [i for i in c.logical_ids() if i in taken] + [o for o in c.output_names() if f"Outputs.{o}" in taken]
        if clash:
            raise ConsumerError(f"consumers.yaml: consumer {c.name!r} would generate {', '.join(clash)}, "
                                "already written by hand in the template")
    check_references(consumers, hand_doc)
    generated = render_resources(consumers, consts, hand_doc.get("Parameters") or {})
    generated += [""] + render_topic_policy(publisher_roles(consumers, hand_doc))
    out = (lines[:rb + 1] + generated + ["  " + END_MARKER]
           + lines[re_ + 1:ob + 1] + render_outputs(consumers) + ["  " + END_MARKER] + lines[oe + 1:])
    return "\n".join(out)


def generate_files(consumers_file: Path = CONSUMERS_FILE, template_file: Path = TEMPLATE,
                   events_lib: Path = EVENTS_LIB) -> str:
    consts = rust_consts(events_lib)
    return generate(template_file.read_text(), load_consumers(consumers_file, consts), consts)
