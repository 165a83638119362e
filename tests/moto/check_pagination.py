"""Checks that pagination.py pages EC2's DescribeTags, DescribeRouteTables,
DescribeSecurityGroups and DescribeNatGateways as AWS does.

Run with the emulator's venv: `$(dirname $(tests/scripts/moto-venv.sh))/python
tests/moto/check_pagination.py` (the integration test `moto_speed::ec2_describes_answer_in_pages`
does). It starts its own server.py on a free loopback port, makes twelve tagged VPCs with a
security group each, then checks, with boto3, that each call with `MaxResults` 5 answers at most
five items and a token, that following the tokens gives exactly what one call without
`MaxResults` gives, that `MaxResults` out of the action's range and a token it did not give are
refused, and that a call without `MaxResults` still answers everything. Exits non-zero on the
first failure.
"""

import sys
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from local_server import start_server
TAG = "webstack.io/cluster"


def check(what: str, ok: bool) -> None:
    if not ok:
        print(f"FAILED: {what}")
        sys.exit(1)


def pages(call: Callable[..., Any], key: str, **kwargs: Any) -> tuple[list[Any], int]:
    """Every item, following the tokens, five a page; and how many calls it took."""
    items: list[Any] = []
    token = None
    calls = 0
    while True:
        answer = call(MaxResults=5, **({"NextToken": token} if token else {}), **kwargs)
        calls += 1
        check(f"{key}: a page of at most 5", len(answer[key]) <= 5)
        items += answer[key]
        token = answer.get("NextToken")
        if not token:
            return items, calls


def main() -> int:
    server, port = start_server()
    try:
        ec2 = boto3.client(
            "ec2",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            # The refusals below are the server's: boto3 would refuse an out-of-range value first.
            config=Config(parameter_validation=False),
        )
        tagged = lambda kind: [{"ResourceType": kind, "Tags": [{"Key": TAG, "Value": "c"}]}]  # noqa: E731
        for i in range(12):
            vpc = ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16", TagSpecifications=tagged("vpc"))["Vpc"]["VpcId"]
            ec2.create_security_group(
                GroupName=f"g{i}", Description="g", VpcId=vpc, TagSpecifications=tagged("security-group")
            )
        ours = [{"Name": f"tag:{TAG}", "Values": ["c"]}]
        key_filter = [{"Name": "key", "Values": [TAG]}]
        for call, key, kwargs, ident in (
            (ec2.describe_security_groups, "SecurityGroups", {"Filters": ours}, "GroupId"),
            (ec2.describe_route_tables, "RouteTables", {}, "RouteTableId"),
            (ec2.describe_tags, "Tags", {"Filters": key_filter}, "ResourceId"),
            (ec2.describe_nat_gateways, "NatGateways", {}, "NatGatewayId"),
        ):
            whole = call(**kwargs)
            check(f"{key}: no token without MaxResults", "NextToken" not in whole)
            paged, calls = pages(call, key, **kwargs)
            check(
                f"{key}: the pages are the whole answer",
                sorted(i[ident] for i in paged) == sorted(i[ident] for i in whole[key]),
            )
            check(f"{key}: {len(whole[key])} items in {calls} pages", calls == max(1, -(-len(whole[key]) // 5)))
        check("twelve groups in pages", len(pages(ec2.describe_security_groups, "SecurityGroups", Filters=ours)[0]) == 12)
        for call, too_many in ((ec2.describe_route_tables, 101), (ec2.describe_security_groups, 1001)):
            for bad in (4, too_many):
                try:
                    call(MaxResults=bad)
                    check(f"MaxResults {bad} refused", False)
                except ClientError as e:
                    check(f"MaxResults {bad}: InvalidParameterValue", e.response["Error"]["Code"] == "InvalidParameterValue")
        try:
            ec2.describe_security_groups(MaxResults=5, NextToken="not-a-token")
            check("a token it did not give refused", False)
        except ClientError as e:
            check("a token it did not give: InvalidNextToken", e.response["Error"]["Code"] == "InvalidNextToken")
    finally:
        server.kill()
        server.wait()
    print("EC2 describes answer in pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
