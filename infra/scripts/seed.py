"""Load infra/seed/inventory.json into the local stack's InventoryTable (each SKU overwritten, so
a re-seed restores the stock) and verify the SES sender identity so SendEmail works locally."""
import json
import sys

from localstack_common import ROOT, client, run, stack_name, stack_outputs

SEED = ROOT / "infra" / "seed" / "inventory.json"


def main():
    outputs = stack_outputs()
    if outputs is None:
        print(f"seed: error: stack {stack_name()} does not exist: run infra/scripts/local-deploy first",
              file=sys.stderr)
        sys.exit(1)
    table = outputs["InventoryTableName"]
    items = json.loads(SEED.read_text())["items"]
    ddb = client("dynamodb")
    for item in items:
        ddb.put_item(TableName=table, Item={
            "sku": {"S": item["sku"]},
            "available": {"N": str(int(item["available"]))},
            "reserved": {"N": str(int(item.get("reserved", 0)))},
        })
    stock = ", ".join(f"{i['sku']}={i['available']}" for i in items)
    print(f"seed: {len(items)} SKUs into {table}: {stock}", file=sys.stderr)
    sender = outputs.get("SenderEmail", "orders@example.com")
    client("ses").verify_email_identity(EmailAddress=sender)
    print(f"seed: SES identity {sender} verified", file=sys.stderr)


if __name__ == "__main__":
    run(main, "seed")
