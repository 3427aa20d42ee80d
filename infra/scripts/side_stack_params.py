"""Usage: side_stack_params.py ORDERS_STACK TEMPLATE [KEY=VALUE...]
Prints `Key=Value` lines, one per parameter of a side stack's TEMPLATE (infra/stacks/*.yaml), read
from the deployed ORDERS_STACK as infra/scripts/local-deploy does for LocalStack (its outputs, its
key alias, OrdersStackName), plus the KEY=VALUE given (e.g. Architecture=arm64) where the
template declares them. AWS clients from the standard credential chain and region; used by
infra/scripts/deploy-loyalty."""
import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_deploy import side_stack_parameters  # noqa: E402


def main(argv):
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    orders, template = argv[0], Path(argv[1])
    given = dict(arg.split("=", 1) for arg in argv[2:])
    from samcli.yamlhelper import yaml_parse

    declared = yaml_parse(template.read_text()).get("Parameters", {})
    cfg = {"orders_stack": orders, "template": template, "parameters": given}
    params = side_stack_parameters(cfg, declared, boto3.client("cloudformation"), boto3.client("kms"))
    for key, value in params.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
