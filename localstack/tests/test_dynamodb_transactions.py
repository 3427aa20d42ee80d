"""Unit tests of the item-level rollback patched into moto's TransactWriteItems (no LocalStack)."""

import pytest
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend

from orderflow_localstack import dynamodb


@pytest.fixture
def backend():
    dynamodb.patch_moto_transactions()
    backend = DynamoDBBackend("us-east-1", "000000000000")
    for name, key in [("stock", "sku"), ("reservations", "orderId"), ("other", "pk")]:
        backend.create_table(
            name,
            schema=[{"AttributeName": key, "KeyType": "HASH"}],
            throughput=None,
            attr=[{"AttributeName": key, "AttributeType": "S"}],
            global_indexes=None,
            indexes=None,
            streams=None,
            billing_mode="PAY_PER_REQUEST",
            sse_specification=None,
            tags=[],
            deletion_protection_enabled=False,
        )
    backend.put_item("stock", {"sku": {"S": "A"}, "available": {"N": "5"}})
    backend.put_item("stock", {"sku": {"S": "B"}, "available": {"N": "0"}})
    return backend


def reserve(sku):
    return {
        "Update": {
            "TableName": "stock",
            "Key": {"sku": {"S": sku}},
            "UpdateExpression": "SET available = available - :one",
            "ConditionExpression": "available >= :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def record(order_id):
    return {
        "Put": {
            "TableName": "reservations",
            "Item": {"orderId": {"S": order_id}},
            "ConditionExpression": "attribute_not_exists(orderId)",
        }
    }


def available(backend, sku):
    return backend.get_item("stock", {"sku": {"S": sku}}).attrs["available"].value


def test_a_committed_transaction_applies_every_item(backend):
    backend.transact_write_items([reserve("A"), record("o1")])
    assert available(backend, "A") == "4"
    assert backend.get_item("reservations", {"orderId": {"S": "o1"}}) is not None


def test_a_cancelled_transaction_leaves_every_item_as_it_was(backend):
    # moto applies the items that pass before it sees B fail: the rollback must undo them.
    with pytest.raises(TransactionCanceledException):
        backend.transact_write_items([reserve("A"), record("o2"), reserve("B")])
    assert available(backend, "A") == "5"
    assert available(backend, "B") == "0"
    assert backend.get_item("reservations", {"orderId": {"S": "o2"}}) is None


def test_the_rollback_does_not_copy_or_replace_other_tables(backend):
    backend.put_item("other", {"pk": {"S": "x"}})
    other = backend.tables["other"]
    with pytest.raises(TransactionCanceledException):
        backend.transact_write_items([reserve("B")])
    assert backend.tables["other"] is other, "the table objects are the originals, not restored copies"
    assert backend.get_item("other", {"pk": {"S": "x"}}) is not None


def test_patching_twice_keeps_one_wrapper():
    dynamodb.patch_moto_transactions()
    first = DynamoDBBackend.transact_write_items
    dynamodb.patch_moto_transactions()
    assert DynamoDBBackend.transact_write_items is first
