"""Elastic Load Balancing: a load balancer's name is unique in the account and region. Imported by
server.py.

moto/elbv2/models.py ELBv2Backend.create_load_balancer refuses a duplicate only by ARN
(`if arn in self.load_balancers`), and the ARN holds a random id, so a second CreateLoadBalancer
with a name already used makes a second load balancer of that name. AWS never holds two: "If you
attempt to create multiple load balancers with the same settings, each call succeeds" and
returns the existing one, while a name already used with other settings is refused with
`DuplicateLoadBalancerName` (Elastic Load Balancing API Reference, CreateLoadBalancer). The
difference showed when the fault layer lost the answer of a CreateLoadBalancer after moto had
acted and the SDK retried it: AWS answers the retry with the load balancer it made; moto made a
second one. Here a create naming an existing load balancer returns it when its scheme, type,
subnets and security groups are the same, and is refused otherwise.
"""

from typing import Any

from moto.elbv2.exceptions import DuplicateLoadBalancerName
from moto.elbv2.models import ELBv2Backend, FakeLoadBalancer

_previous_create = ELBv2Backend.create_load_balancer


def _create_load_balancer(self: ELBv2Backend, name: str, security_groups: list[str], subnet_ids: list[str], *args: Any, **kwargs: Any) -> FakeLoadBalancer:
    existing = next((lb for lb in self.load_balancers.values() if lb.name == name), None)
    if existing is None:
        return _previous_create(self, name, security_groups, subnet_ids, *args, **kwargs)
    mappings = kwargs.get("subnet_mappings") or (args[0] if args else None) or []
    wanted_subnets = set(subnet_ids or []) | {m["SubnetId"] for m in mappings}
    scheme = kwargs.get("scheme", args[1] if len(args) > 1 else "internet-facing")
    kind = kwargs.get("loadbalancer_type", args[2] if len(args) > 2 else None) or "application"
    same = (
        existing.scheme == scheme
        and existing.type == kind
        and {s.id for s in existing.subnets} == wanted_subnets
        and set(existing.security_groups or []) == set(security_groups or [])
    )
    if not same:
        raise DuplicateLoadBalancerName()
    return existing


ELBv2Backend.create_load_balancer = _create_load_balancer  # type: ignore[method-assign]
