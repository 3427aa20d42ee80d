"""infra/consumers.yaml is the one list of consumers: the template's generated part is exactly what
it generates, a bad entry stops the generator with a message naming it, the AsyncAPI document
describes the same consumers, and infra/scripts/units lists them."""
import re
import subprocess
import sys

import pytest

from conftest import LOYALTY_ENTRY, REPO, iu, write_loyalty_case

ASYNCAPI = REPO / "crates" / "orderflow-events" / "asyncapi.yaml"
GOOD = """
consumers:
  - name: loyalty
    description: Awards points
    subscribes: { OrderPlaced: 1 }
    max_concurrency: 2
    tables:
      - name: LoyaltyPoints
        hash_key: customerId
        actions: [GetItem, PutItem]
"""


# Every optional field of the lifecycle's kind: a table it does not own, events it publishes, a timer.
FULL = """
consumers:
  - name: loyalty
    description: Awards points
    subscribes: { OrderConfirmed: 1, OrderCancelled: 1 }
    event_name: Settled
    max_concurrency: 2
    uses_tables:
      - ref: OrdersTable
        env: ORDERS_TABLE_NAME
        actions: [GetItem, UpdateItem]
    publishes: [StockReserved]
    timer:
      subscribes: { OrderPlaced: 1 }
      delay_seconds: !Ref SettleTimeoutSeconds
      delay_env: POINTS_DELAY_SECONDS
"""


def test_template_is_what_consumers_yaml_generates():
    generated = iu.generate_files()
    assert generated == iu.TEMPLATE.read_text(), (
        f"infra/template.yaml is not what infra/consumers.yaml generates: run {iu.GENERATE_COMMAND} "
        "(and commit both files)")


def test_generated_part_is_marked_and_holds_every_consumer():
    text = iu.TEMPLATE.read_text()
    assert text.count(iu.BEGIN_MARKER) == 2 and text.count(iu.END_MARKER) == 2
    doc = iu.load_yaml(text)
    for c in iu.load_consumers():
        assert set(c.logical_ids()) <= set(doc["Resources"]), c.name
        assert set(c.output_names()) <= set(doc["Outputs"]), c.name


def test_hand_written_part_mentions_no_consumer():
    """Nothing outside the markers is per consumer (else adding one would need a hand edit)."""
    lines = iu.TEMPLATE.read_text().split("\n")
    begins = [i for i, line in enumerate(lines) if line.strip() == iu.BEGIN_MARKER]
    ends = [i for i, line in enumerate(lines) if line.strip() == iu.END_MARKER]
    hand = "\n".join(lines[:begins[0]] + lines[ends[0] + 1:begins[1]] + lines[ends[1] + 1:])
    consumers = iu.load_consumers()
    # A consumer's table may be read by a hand-written function (the order API reads the event
    # store): a reference to its ARN (the table or its indexes) or name, never a definition.
    for t in (t for c in consumers for t in c.tables):
        hand = re.sub(rf"!GetAtt {t.logical_id}\.Arn\b|\$\{{{t.logical_id}\.Arn\}}|!Ref {t.logical_id}\b", "", hand)
    for c in consumers:
        for name in c.logical_ids() + c.output_names():
            assert name not in hand, f"{name} is written by hand outside the generated part"


def test_an_added_entry_without_regenerating_is_drift(tmp_path):
    consumers_file = tmp_path / "consumers.yaml"
    consumers_file.write_text(iu.CONSUMERS_FILE.read_text() + LOYALTY_ENTRY)
    assert iu.generate_files(consumers_file) != iu.TEMPLATE.read_text()


def test_the_cli_generates_a_new_consumer_into_another_file(tmp_path):
    consumers_file, expected = write_loyalty_case(tmp_path)
    out = tmp_path / "out.yaml"
    run = subprocess.run([sys.executable, str(REPO / "infra" / "scripts" / "generate-template"),
                          "--consumers", str(consumers_file), "--output", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert out.read_text() == expected.read_text()
    assert "LoyaltyPointsTable:" in out.read_text() and "PointsFunction:" in out.read_text()
    check = subprocess.run([sys.executable, str(REPO / "infra" / "scripts" / "generate-template"), "--check",
                            "--consumers", str(consumers_file), "--template", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    drift = subprocess.run([sys.executable, str(REPO / "infra" / "scripts" / "generate-template"), "--check",
                            "--template", str(out)], capture_output=True, text=True)
    assert drift.returncode == 1 and iu.GENERATE_COMMAND in drift.stderr


def test_the_generated_new_consumer_passes_cfn_lint(tmp_path):
    from cfnlint.api import lint_all

    _, template = write_loyalty_case(tmp_path)
    # Errors and warnings, as `sam validate --lint` reports them (I* are informational).
    matches = [m for m in lint_all(template.read_text()) if m.rule.id[0] in "EW"]
    assert not matches, "\n".join(str(m) for m in matches)


# --- bad entries fail loudly --------------------------------------------------------------------

def _parse(text):
    return iu.parse_consumers(iu.load_yaml(text), iu.rust_consts())


def test_the_good_example_parses():
    (c,) = _parse(GOOD)
    assert (c.pascal, c.tables[0].logical_id, c.tables[0].env) == ("Loyalty", "LoyaltyPointsTable",
                                                                   "LOYALTY_POINTS_TABLE_NAME")
    assert (c.timeout, c.batch_size, c.batching_window, c.memory) == (10, 10, 1, None)


def test_the_full_example_parses_and_generates():
    (c,) = _parse(FULL)
    assert [(u.ref, u.env, u.actions, u.sid) for u in c.uses_tables] == [
        ("OrdersTable", "ORDERS_TABLE_NAME", ["GetItem", "UpdateItem"], "Orders")]
    assert c.publishes == ["StockReserved"]
    assert (c.timer.subscribes, c.timer.delay, c.timer.delay_env) == (
        {"OrderPlaced": 1}, iu.Tag("Ref", "SettleTimeoutSeconds"), "POINTS_DELAY_SECONDS")
    assert c.event == "Settled"
    assert [q.prefix for q in c.queues()] == ["Loyalty", "LoyaltyTimer"]
    assert c.output_names() == ["LoyaltyQueueUrl", "LoyaltyDlqUrl", "LoyaltyFunctionName", "LoyaltyTimerQueueUrl",
                                "LoyaltyTimerDlqUrl"]
    assert c.generated_env() == {
        "IDEMPOTENCY_TABLE_NAME": iu.Tag("Ref", "IdempotencyTable"),
        "DEAD_LETTER_QUEUE_URL": iu.Tag("Ref", "LoyaltyDlq"),
        "ORDERS_TABLE_NAME": iu.Tag("Ref", "OrdersTable"),
        "OUTBOX_TABLE_NAME": iu.Tag("Ref", "OutboxTable"), "ORDER_EVENTS_TOPIC_ARN": iu.Tag("Ref", "OrderEventsTopic"),
        "POINTS_DELAY_SECONDS": iu.Tag("Ref", "SettleTimeoutSeconds")}
    consts = iu.rust_consts()
    doc = iu.load_yaml(iu.generate(iu.TEMPLATE.read_text(), [c], consts))
    assert doc["Resources"]["LoyaltyTimerQueue"]["Properties"]["DelaySeconds"] == iu.Tag("Ref", "SettleTimeoutSeconds")
    assert set(doc["Resources"]["LoyaltyFunction"]["Properties"]["Events"]) == {"Settled", "Timer"}
    assert doc["Resources"]["LoyaltyTimerQueueAgeAlarm"]["Properties"]["Threshold"] == 900 + 300


def test_consumers_yaml_describes_the_lifecycle():
    """The entries of docs/contracts/order-lifecycle.md ("Who does what")."""
    by_name = {c.name: c for c in iu.load_consumers()}
    settlement = {"OrderConfirmed": 1, "OrderCancelled": 1}
    assert by_name["inventory"].subscribes == {"OrderPlaced": 1} | settlement
    assert by_name["inventory"].publishes == ["StockReserved", "StockRejected"]
    assert by_name["billing"].subscribes == {"OrderPlaced": 1} | settlement
    assert by_name["billing"].publishes == ["PaymentAuthorized", "PaymentDeclined"]
    assert by_name["notification"].subscribes == settlement and not by_name["notification"].publishes
    shipping = by_name["shipping"]
    assert shipping.subscribes == {"OrderConfirmed": 1}
    assert [(t.name, t.hash_key) for t in shipping.tables] == [("Shipments", "orderId")]
    lifecycle = by_name["order-lifecycle"]
    assert lifecycle.subscribes == {"StockReserved": 1, "StockRejected": 1, "PaymentAuthorized": 1,
                                    "PaymentDeclined": 1}
    assert lifecycle.publishes == ["OrderConfirmed", "OrderCancelled"]
    assert not lifecycle.tables and [(u.ref, u.env) for u in lifecycle.uses_tables] == [
        ("OrdersTable", "ORDERS_TABLE_NAME")]
    assert {"GetItem", "UpdateItem"} <= set(lifecycle.uses_tables[0].actions)
    assert "PutItem" not in lifecycle.uses_tables[0].actions  # settles orders, never creates one
    assert (lifecycle.timer.subscribes, lifecycle.timer.delay, lifecycle.timer.delay_env) == (
        {"OrderPlaced": 1}, iu.Tag("Ref", "SettleTimeoutSeconds"), "SETTLE_TIMEOUT_SECONDS")


def test_every_subscribed_event_has_a_publisher():
    """A subscription nobody publishes for is a consumer waiting forever. OrderPlaced is the order
    API's (hand-written); every other type is in some entry's `publishes`."""
    consumers = iu.load_consumers()
    published = {"OrderPlaced"} | {t for c in consumers for t in c.publishes}
    for c in consumers:
        for q in c.queues():
            assert set(q.subscribes) <= published, (c.name, set(q.subscribes) - published)
    assert len([t for c in consumers for t in c.publishes]) == len(published) - 1  # one producer per type


@pytest.mark.parametrize(("old", "new", "message"), [
    ("[StockReserved]", "[StockShipped]", "publishes unknown event type 'StockShipped'"),
    ("[StockReserved]", "[StockReserved, StockReserved]", "publishes lists an event type twice"),
    ("[StockReserved]", "[]", "publishes is a non-empty list"),
    ("ref: OrdersTable", "ref: IdempotencyTable", "IdempotencyTable is every consumer's already"),
    ("ref: OrdersTable", "ref: OutboxTable", "OutboxTable comes with `publishes:`"),
    ("ref: OrdersTable", "ref: Orders", "ref must be a table's logical id"),
    ("        env: ORDERS_TABLE_NAME\n", "", "uses_tables[0]: missing required field(s) env"),
    ("env: ORDERS_TABLE_NAME", "env: IDEMPOTENCY_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME is already set"),
    ("env: ORDERS_TABLE_NAME", "env: orders", "must be UPPER_SNAKE_CASE"),
    ("actions: [GetItem, UpdateItem]", "actions: [Scan]", "uses_tables[0]: actions must be"),
    ("actions: [GetItem, UpdateItem]", "actions: [GetItem]\n        key: orderId", "unknown field(s) key"),
    ("      delay_seconds: !Ref SettleTimeoutSeconds\n", "", "timer: missing required field(s) delay_seconds"),
    ("delay_seconds: !Ref SettleTimeoutSeconds", "delay_seconds: 901",
     "timer: delay_seconds: must be an integer from 0 to 900"),
    ("delay_seconds: !Ref SettleTimeoutSeconds", "delay_seconds: !Sub x", "delay_seconds is seconds or !Ref"),
    ("delay_env: POINTS_DELAY_SECONDS", "delay_env: OUTBOX_TABLE_NAME", "OUTBOX_TABLE_NAME is already set"),
    ("delay_env: POINTS_DELAY_SECONDS", "jitter: 3", "timer: unknown field(s) jitter"),
    ("      subscribes: { OrderPlaced: 1 }", "      subscribes: { OrderPlaced: 2 }",
     "OrderPlaced v2 is not in the events crate"),
    ("event_name: Settled", "event_name: Timer", "event_name must be PascalCase and not Timer"),
])
def test_a_bad_lifecycle_field_is_rejected_with_its_name(old, new, message):
    assert old in FULL
    with pytest.raises(iu.ConsumerError) as error:
        _parse(FULL.replace(old, new, 1))
    assert message in str(error.value)
    assert "consumer 'loyalty'" in str(error.value).lower()


@pytest.mark.parametrize(("old", "new", "message"), [
    ("ref: OrdersTable", "ref: OrderTable", "OrderTable is not a table of the template"),
    ("!Ref SettleTimeoutSeconds", "!Ref LogLevel", "names LogLevel, not a Number parameter"),
    ("!Ref SettleTimeoutSeconds", "!Ref LogRetentionDays", "parameter LogRetentionDays needs MinValue >= 0"),
])
def test_what_only_the_template_knows_is_checked_when_generating(old, new, message):
    consts = iu.rust_consts()
    consumers = _parse(FULL.replace(old, new, 1))
    with pytest.raises(iu.ConsumerError, match="consumer 'loyalty'") as error:
        iu.generate(iu.TEMPLATE.read_text(), consumers, consts)
    assert message in str(error.value)


def test_the_topic_policy_is_generated_from_the_publishing_roles():
    """A hand-written topic policy would be overwritten by the generated one (one policy per
    topic): it is refused. A consumer that publishes is admitted without a hand edit."""
    consts = iu.rust_consts()
    text = iu.TEMPLATE.read_text()
    policy = text.split("  OrderEventsTopicPolicy:\n", 1)[1].split("  # --- END generated ---", 1)[0]
    hand = text.replace("  OrderEventsTopic:\n", "  OrderEventsTopicPolicy:\n" + policy + "\n  OrderEventsTopic:\n", 1)
    with pytest.raises(iu.ConsumerError, match="OrderEventsTopicPolicy is generated"):
        iu.generate(hand, iu.load_consumers(), consts)
    generated = iu.load_yaml(iu.generate(text, _parse(FULL), consts))
    statement = generated["Resources"]["OrderEventsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [
        iu.Tag("GetAtt", "OrderApiRole.Arn"), iu.Tag("GetAtt", "OutboxRelayRole.Arn"),
        iu.Tag("GetAtt", "LoyaltyRole.Arn")]


def test_generated_tables_need_the_templates_is_local_condition():
    """A table's deletion protection is off on LocalStack by the condition IsLocal of the
    hand-written part: a template without it is refused before CloudFormation would be."""
    consts = iu.rust_consts()
    text = iu.TEMPLATE.read_text().replace("  IsLocal: !Equals", "  IsLocalStack: !Equals", 1)
    with pytest.raises(iu.ConsumerError, match="consumer 'loyalty'.*condition IsLocal"):
        iu.generate(text, _parse(GOOD), consts)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("{ OrderPlaced: 1 }", "{ OrderShipped: 1 }", "unknown event type 'OrderShipped'"),
    ("{ OrderPlaced: 1 }", "{ OrderPlaced: 7 }", "OrderPlaced v7 is not in the events crate"),
    ("{ OrderPlaced: 1 }", "[OrderPlaced]", "subscribes must map event types to versions"),
    ("    description: Awards points\n", "", "missing required field(s) description"),
    ("    max_concurrency: 2\n", "", "missing required field(s) max_concurrency"),
    ("        hash_key: customerId\n", "", "tables[0]: missing required field(s) hash_key"),
    ("        actions: [GetItem, PutItem]", "        actions: ['*']", "actions must be"),
    ("        actions: [GetItem, PutItem]", "        actions: [GetItem]\n        sort_key: x",
     "unknown field(s) sort_key"),
    ("    max_concurrency: 2", "    max_concurrency: 1", "max_concurrency: must be an integer from 2 to 1000"),
    ("    max_concurrency: 2", "    max_concurrency: 2\n    batch_size: 100", "batch_size: must be an integer"),
    ("    max_concurrency: 2", "    max_concurrency: 2\n    timeout: 0", "timeout: must be an integer"),
    ("    max_concurrency: 2", "    max_concurrency: 2\n    retries: 3", "unknown field(s) retries"),
    ("name: loyalty", "name: Loyalty", "name must be kebab-case"),
    ("name: LoyaltyPoints", "name: loyalty_points", "name must be PascalCase"),
    ("name: LoyaltyPoints", "name: Idempotency", "table Idempotency is already defined"),
    ("    max_concurrency: 2", "    max_concurrency: 2\n    environment: { IDEMPOTENCY_TABLE_NAME: x }",
     "IDEMPOTENCY_TABLE_NAME is generated"),
    ("    max_concurrency: 2", "    max_concurrency: 2\n    statements: [{ Sid: X, Effect: Allow, Action: 's3:*', "
     "Resource: '*' }]", "no wildcard actions"),
    ("{ OrderPlaced: 1 }", "everything", "subscribes must map event types to versions"),
    ("        actions: [GetItem, PutItem]", "        actions: [GetItem, PutItem]\n        gsis: byCustomer",
     "gsis is a list"),
    ("        actions: [GetItem, PutItem]", "        actions: [GetItem, PutItem]\n        gsis: [{ name: byX }]",
     "gsis[0]: an index is a mapping"),
    ("        actions: [GetItem, PutItem]",
     "        actions: [GetItem, PutItem]\n        gsis: [{ name: by-x, hash_key: x }]", "gsis[0]: name must be"),
    ("        actions: [GetItem, PutItem]",
     "        actions: [GetItem, PutItem]\n        gsis: [{ name: byX, hash_key: x, range_key: 'a b' }]",
     "gsis[0]: range_key must be an attribute name"),
])
def test_a_bad_entry_is_rejected_with_its_name(old, new, message):
    assert old in GOOD
    with pytest.raises(iu.ConsumerError) as error:
        _parse(GOOD.replace(old, new, 1))
    assert message in str(error.value)
    assert "consumer 'loyalty'" in str(error.value).lower()


def test_subscribes_all_has_no_filter_and_indexes_define_their_keys():
    entry = GOOD.replace("{ OrderPlaced: 1 }", "all", 1).replace(
        "        actions: [GetItem, PutItem]",
        "        actions: [GetItem, PutItem]\n"
        "        gsis: [{ name: byTier, hash_key: tier, range_key: customerId }]", 1)
    (c,) = _parse(entry)
    assert (c.subscribes_all, c.subscribes, c.event) == (True, {}, "AllEvents")
    assert [q.all for q in c.queues()] == [True]
    (table,) = c.tables
    assert table.key_attributes() == ["customerId", "tier"]  # each once, the table's key first
    consts = iu.rust_consts()
    lines = iu.render_resources([c], consts)
    text = "\n".join(lines)
    assert "FilterPolicy" not in text and "Events:\n        AllEvents:" in text
    assert "        - IndexName: byTier" in text


def test_a_consumer_listed_twice_is_rejected():
    twice = GOOD + GOOD.split("consumers:\n", 1)[1].replace("LoyaltyPoints", "Other")
    with pytest.raises(iu.ConsumerError, match="listed twice"):
        _parse(twice)


def test_a_consumer_clashing_with_a_hand_written_resource_is_rejected():
    clash = GOOD.replace("name: loyalty", "name: order-api").replace("LoyaltyPoints", "Ledger")
    consts = iu.rust_consts()
    with pytest.raises(iu.ConsumerError, match="OrderApiFunction"):
        iu.generate(iu.TEMPLATE.read_text(), iu.parse_consumers(iu.load_yaml(clash), consts), consts)


def test_the_cli_fails_on_a_bad_entry_and_writes_nothing(tmp_path):
    bad = tmp_path / "consumers.yaml"
    bad.write_text(GOOD.replace("        hash_key: customerId\n", ""))
    out = tmp_path / "out.yaml"
    run = subprocess.run([sys.executable, str(REPO / "infra" / "scripts" / "generate-template"),
                          "--consumers", str(bad), "--output", str(out)], capture_output=True, text=True)
    assert run.returncode == 1
    assert "consumer 'loyalty': tables[0]: missing required field(s) hash_key" in run.stderr
    assert not out.exists()


def test_markers_are_required():
    consts = iu.rust_consts()
    text = iu.TEMPLATE.read_text().replace(iu.END_MARKER, "# end", 1)
    with pytest.raises(iu.ConsumerError, match="expected one"):
        iu.generate(text, iu.load_consumers(), consts)


# --- the AsyncAPI document ----------------------------------------------------------------------

def asyncapi_problems(doc, consumers):
    """What the AsyncAPI document says differently from infra/consumers.yaml (empty: agreement)."""
    problems = []
    messages = doc["components"]["messages"]

    def event_of(ref):  # '#/channels/orderEvents/messages/orderPlacedV1' -> (type, version)
        channel, key = ref.split("/")[2], ref.split("/")[-1]
        target = doc["channels"][channel]["messages"][key]["$ref"].split("/")[-1]
        headers = messages[target]["headers"]["properties"]
        return headers["event_type"]["const"], int(headers["event_version"]["const"])

    publish = [op for op in doc["operations"].values() if op["action"] == "send"]
    sent = {event_of(m["$ref"])[0] for op in publish for m in op["messages"]}
    sns = {s["endpoint"]["name"]: s for op in publish for s in op["bindings"]["sns"]["consumers"]}
    unfiltered = {s["endpoint"]["name"]: s for ch in doc["channels"].values()
                  for s in ch.get("x-unfiltered-subscriptions", [])}
    receives = {}
    for queue, s in unfiltered.items():
        if queue in sns:
            problems.append(f"{queue}: a filtered and an unfiltered subscription")
        sns[queue] = s
        receives[queue] = {"queues": s.get("x-queues", []), "events": "all", "ops": ["x-unfiltered-subscriptions"]}
    for name, op in doc["operations"].items():
        if op["action"] != "receive":
            continue
        queues = op["bindings"]["sqs"]["queues"]
        entry = receives.setdefault(queues[0]["name"], {"queues": queues, "events": set(), "ops": []})
        if entry["events"] == "all":
            problems.append(f"receive operation {name} on {queues[0]['name']}, which is unfiltered")
            continue
        entry["events"] |= {event_of(m["$ref"]) for m in op["messages"]}
        entry["ops"].append(name)
    # Every subscribed queue (a timer is a second one) has its sns consumer and receive operation.
    want = {f"{q.prefix}Queue": (c, q) for c in consumers for q in c.queues()}
    for c in consumers:
        for event_type in c.publishes:
            if event_type not in sent:
                problems.append(f"{c.name}: publishes {event_type}, which no send operation describes")
    for extra in sorted(set(sns) - set(want)):
        problems.append(f"sns consumer {extra} is not in consumers.yaml")
    for extra in sorted(set(receives) - set(want)):
        problems.append(f"receive operation(s) {receives[extra]['ops']} on {extra}, not in consumers.yaml")
    for queue, (c, q) in want.items():
        dlq = f"{q.prefix}Dlq"
        s = sns.get(queue)
        if s is None:
            problems.append(f"{c.name}: no sns consumer with endpoint {queue} in the publish operation")
        else:
            policy = s.get("filterPolicy", {})
            if q.all:
                if queue not in unfiltered or "filterPolicy" in s or "filterPolicyScope" in s:
                    problems.append(f"{c.name}: {queue} takes every event: its subscription belongs in the "
                                    "channel's x-unfiltered-subscriptions, without a filter policy")
                if s.get("rawMessageDelivery") is not True:
                    problems.append(f"{c.name}: not raw delivery")
            elif queue in unfiltered:
                problems.append(f"{c.name}: {queue} has a filter policy but is described as unfiltered")
            elif sorted(policy.get("event_type", [])) != sorted(q.subscribes):
                problems.append(f"{c.name}: {queue} filterPolicy event_type {policy.get('event_type')} "
                                f"!= {list(q.subscribes)}")
            if not q.all and "event_version" in policy and policy["event_version"] != [str(q.version)]:
                problems.append(f"{c.name}: {queue} filterPolicy event_version {policy['event_version']} "
                                f"!= [{q.version!r}]")
            if set(policy) - {"event_type", "event_version"}:
                problems.append(f"{c.name}: filterPolicy has more attributes than the subscription")
            if not q.all and (s.get("rawMessageDelivery"), s.get("filterPolicyScope")) != (True, "MessageAttributes"):
                problems.append(f"{c.name}: not raw delivery filtered on MessageAttributes")
            if s.get("redrivePolicy") != {"deadLetterQueue": {"name": dlq}, "maxReceiveCount": iu.MAX_RECEIVE_COUNT}:
                problems.append(f"{c.name}: sns redrivePolicy is not {dlq} after {iu.MAX_RECEIVE_COUNT}")
        r = receives.get(queue)
        if r is None:
            problems.append(f"{c.name}: no receive operation on {queue}")
            continue
        if r["events"] != ("all" if q.all else set(q.subscribes.items())):
            problems.append(f"{c.name}: {queue} receives {sorted(r['events'])}, "
                            f"subscribes {sorted(q.subscribes.items())}")
        main, *rest = r["queues"]
        if main.get("visibilityTimeout") != c.visibility_timeout:
            problems.append(f"{c.name}: visibilityTimeout {main.get('visibilityTimeout')} != {c.visibility_timeout}")
        if main.get("redrivePolicy", {}).get("deadLetterQueue", {}).get("name") != dlq:
            problems.append(f"{c.name}: the queue's redrivePolicy does not name {dlq}")
        if [q.get("name") for q in rest] != [dlq]:
            problems.append(f"{c.name}: the receive operation does not describe {dlq}")
    return problems


@pytest.fixture(scope="module")
def asyncapi():
    return iu.load_yaml(ASYNCAPI.read_text())


def test_asyncapi_describes_exactly_the_consumers(asyncapi):
    problems = asyncapi_problems(asyncapi, iu.load_consumers())
    assert not problems, (f"{ASYNCAPI.relative_to(REPO)} disagrees with infra/consumers.yaml:\n  "
                          + "\n  ".join(problems))


def test_a_consumer_without_its_asyncapi_entry_is_found(asyncapi, tmp_path):
    consumers_file, _ = write_loyalty_case(tmp_path)
    problems = asyncapi_problems(asyncapi, iu.load_consumers(consumers_file))
    assert any("points: no sns consumer" in p for p in problems), problems
    assert any("points: no receive operation" in p for p in problems), problems
    fewer = [c for c in iu.load_consumers() if c.name != "billing"]
    assert any("BillingQueue" in p for p in asyncapi_problems(asyncapi, fewer))


def test_asyncapi_references_exist(asyncapi):
    text = ASYNCAPI.read_text()
    assert not re.search(r"(?<![-/\w])events/", text), "the events crate is crates/orderflow-events/"
    assert "../../docs/contracts/order-placed.v1.md" in text
    for path in ("tests/contract/asyncapi.rs", "fixtures/valid/contract-example.json",
                 "schemas/order-placed.v1.schema.json", "README.md"):
        assert (ASYNCAPI.parent / path).exists(), path
    if (REPO / "docs" / "contracts").is_dir():
        assert (REPO / "docs" / "contracts" / "order-placed.v1.md").exists()


# --- infra/scripts/units ------------------------------------------------------------------------

def _units(what):
    run = subprocess.run([sys.executable, str(REPO / "infra" / "scripts" / "units"), what],
                         capture_output=True, text=True, check=True)
    return run.stdout.split()


def test_units_lists_functions_consumers_and_dlq_outputs():
    consumers = iu.load_consumers()
    doc = iu.load_yaml(iu.TEMPLATE.read_text())
    assert _units("consumers") == [c.name for c in consumers]
    assert _units("functions") == iu.template_functions(doc)
    assert set(_units("functions")) == {"order-api", "outbox-relay"} | {c.name for c in consumers}
    # The topic's delivery DLQ first (hand-written), then every consumer's.
    assert _units("dlq-outputs") == ["DeliveryDlqUrl"] + [f"{q.prefix}DlqUrl" for c in consumers for q in c.queues()]


def test_units_rejects_an_unknown_list():
    run = subprocess.run([sys.executable, str(REPO / "infra" / "scripts" / "units"), "tables"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "Usage:" in run.stderr
