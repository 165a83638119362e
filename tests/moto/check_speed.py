"""Checks that speed.py's lookups give moto's own answers.

Run with the emulator's venv: `$(dirname $(tests/scripts/moto-venv.sh))/python
tests/moto/check_speed.py` (the integration test `moto_speed::lookups_answer_as_moto_does` does).
In process, no server: builds an EC2 backend with VPCs, subnets and security groups, some tagged
alike, some with tags removed, then compares, for every resource, moto's original `get_tags` with
the patched one, every group's lookup by id (and an unknown id), the tag filters of
DescribeSecurityGroups and DescribeSubnets, and the list of moto's modules. Exits non-zero on the
first difference.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import moto.backends  # noqa: E402
from moto.ec2.models import ec2_backends  # noqa: E402
from moto.ec2.models.core import TaggedEC2Resource  # noqa: E402
from moto.ec2.models.security_groups import SecurityGroupBackend  # noqa: E402

original_get_tags = TaggedEC2Resource.get_tags
original_group_from_id = SecurityGroupBackend.get_security_group_from_id
original_modules = list(moto.backends.list_of_moto_modules())

import speed  # noqa: E402,F401  (the patches under test)


def check(what: str, got: object, want: object) -> None:
    if got != want:
        print(f"check_speed: {what}: patched {got!r}, moto {want!r}", file=sys.stderr)
        sys.exit(1)


ec2 = ec2_backends["123456789012"]["us-east-1"]
resources = []
for i in range(6):
    vpc = ec2.create_vpc(cidr_block=f"10.{i}.0.0/16")
    resources.append(vpc)
    ec2.create_tags([vpc.id], {"stack": f"s{i % 3}", "Name": f"vpc-{i}"})
    for z, zone in enumerate(("us-east-1a", "us-east-1b")):
        subnet = ec2.create_subnet(vpc_id=vpc.id, cidr_block=f"10.{i}.{z}.0/24", availability_zone=zone)
        resources.append(subnet)
        ec2.create_tags([subnet.id], {"stack": f"s{i % 3}", "tier": "public" if z == 0 else "private"})
    for g in range(2):
        group = ec2.create_security_group(name=f"g{i}-{g}", description="check", vpc_id=vpc.id)
        resources.append(group)
        if g == 0:
            ec2.create_tags([group.id], {"stack": f"s{i % 3}", "a*b": "x?y"})
    # A tag removed: the resource keeps an empty entry in moto's table.
    ec2.delete_tags([resources[-1].id], {"stack": None})
resources.extend(ec2.describe_security_groups())  # the default groups too

for resource in resources:
    check(f"tags of {resource.id}", resource.get_tags(), original_get_tags(resource))
    check(f"tag_set of {resource.id}", resource.tag_set, original_get_tags(resource))

groups = ec2.describe_security_groups()
for group in groups:
    check(f"group {group.id}", ec2.get_security_group_from_id(group.id), original_group_from_id(ec2, group.id))
check("an unknown group", ec2.get_security_group_from_id("sg-00000000000000000"), None)

for stack in ("s0", "s1", "s2", "s9"):
    filters = {"tag:stack": [stack]}
    got = sorted(g.id for g in ec2.describe_security_groups(filters=filters))
    want = sorted(g.id for g in groups if {"key": "stack", "value": stack} in
                  [{"key": t["key"], "value": t["value"]} for t in original_get_tags(g)])
    check(f"groups tagged stack={stack}", got, want)
    got = sorted(s.id for s in ec2.describe_subnets(filters=filters))
    want = sorted(r.id for r in resources if r.id.startswith("subnet-") and any(
        t["key"] == "stack" and t["value"] == stack for t in original_get_tags(r)))
    check(f"subnets tagged stack={stack}", got, want)
check("tag-key filter", sorted(g.id for g in ec2.describe_security_groups(filters={"tag-key": ["a*b"]})),
      sorted(g.id for g in groups if any(t["key"] == "a*b" for t in original_get_tags(g))))

check("moto's modules", list(moto.backends.list_of_moto_modules()), original_modules)
print(f"check_speed: {len(resources)} resources, {len(groups)} groups: the same answers")
