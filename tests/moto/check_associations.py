"""Checks that ecs_services.py keeps every target group's load balancers right when rules are
created at once, as moto_server does them: each request on its own thread.

Run with the emulator's venv: `$(dirname $(tests/scripts/moto-venv.sh))/python
tests/moto/check_associations.py` (the integration test
`moto_speed::target_group_associations_survive_concurrent_rules` does). In process, no server:
in each round a load balancer with a listener and eight target groups, then eight threads
released at once each create a rule forwarding to its own group (Python switching threads every
microsecond), then half of those rules deleted at once the same way. After each step every group
must list the load balancer exactly when a rule forwards to it (DescribeTargetGroups'
LoadBalancerArns). Without the lock around the recompute, 2 of 50 rounds left a group without its
load balancer. Exits non-zero on the first round that does.
"""

import sys
import threading
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).parent))

import moto.backends  # noqa: E402,F401
from moto.ec2.models import ec2_backends  # noqa: E402
from moto.elbv2.models import elbv2_backends  # noqa: E402

import ecs_services  # noqa: E402,F401  (the patch under test)

ACCOUNT = "123456789012"
REGION = "us-east-1"
GROUPS = 8
ROUNDS = 200


def at_once(work: Callable[[int], Any], n: int) -> None:
    """Runs work(0..n) on n threads released together."""
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> int:
    sys.setswitchinterval(1e-6)
    ec2 = ec2_backends[ACCOUNT][REGION]
    elb = elbv2_backends[ACCOUNT][REGION]
    vpc = ec2.create_vpc("10.0.0.0/16")
    subnets = [
        ec2.create_subnet(vpc.id, f"10.0.{i}.0/24", availability_zone=f"{REGION}{zone}")
        for i, zone in ((1, "a"), (2, "b"))
    ]
    for round_ in range(ROUNDS):
        lb = elb.create_load_balancer(
            name=f"lb-{round_}",
            security_groups=[],
            subnet_ids=[s.id for s in subnets],
            scheme="internet-facing",
            loadbalancer_type="application",
        )
        listener = elb.create_listener(
            load_balancer_arn=lb.arn,
            protocol="HTTP",
            port=80,
            ssl_policy=None,
            certificate=None,
            actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
            alpn_policy=None,
            tags=None,
        )
        groups = [
            elb.create_target_group(name=f"g-{round_}-{i}", protocol="HTTP", port=80, vpc_id=vpc.id, target_type="ip")
            for i in range(GROUPS)
        ]
        rules: list[Any] = [None] * GROUPS

        def create(i: int) -> None:
            rules[i] = elb.create_rule(
                listener_arn=listener.arn,
                conditions=[{"Field": "path-pattern", "Values": [f"/{i}/*"]}],
                priority=i + 1,
                actions=[{"Type": "forward", "TargetGroupArn": groups[i].arn}],
                tags=None,
            )

        def delete(i: int) -> None:
            elb.delete_rule(rules[2 * i].arn)

        for step, work, n, forwarded in (
            ("created", create, GROUPS, set(range(GROUPS))),
            ("half deleted", delete, GROUPS // 2, {i for i in range(GROUPS) if i % 2 == 1}),
        ):
            at_once(work, n)
            wrong = [
                (g.name, g.load_balancer_arns)
                for i, g in enumerate(groups)
                if g.load_balancer_arns != ([lb.arn] if i in forwarded else [])
            ]
            if wrong:
                print(f"round {round_}, rules {step} at once: groups with wrong load balancers: {wrong}")
                return 1
    print(f"{ROUNDS} rounds of {GROUPS} rules created and {GROUPS // 2} deleted at once: associations right")
    return 0


if __name__ == "__main__":
    sys.exit(main())
