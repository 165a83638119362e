"""Network interfaces that AWS services place in a VPC, and the deletions they hold up.

moto creates no network interface for a load balancer, a DB instance, a cache node or a task,
and deletes security groups, subnets and VPCs whatever still uses them. On AWS:
- An Application Load Balancer has a requester-managed network interface in each of its subnets
  ("ELB app/<name>/<id>", its security groups); an RDS instance one in a subnet of its DB subnet
  group (two with Multi-AZ: the standby has its own), an ElastiCache node one in a subnet of its
  cache subnet group, a task with the awsvpc network mode (every Fargate task) one in a subnet of
  the service's awsvpcConfiguration, all with the owner's security groups; an interface VPC
  endpoint one per subnet with its groups (moto creates those, without the groups).
- These interfaces stay for minutes after their owner is deleted ("it can take several minutes
  for the network interfaces to be deleted", ELB User Guide, Delete an Application Load
  Balancer; ECS: "the task's elastic network interface is detached and deleted" after the task
  stops; RDS and ElastiCache likewise once the instance or cluster is gone).
- DeleteSecurityGroup answers DependencyViolation ("resource sg-... has a dependent object")
  while a network interface uses the group, or another security group's rule references it
  ("You can't delete a security group that is associated with an instance or network interface,
  or that is referenced by another security group", VPC User Guide, Delete a security group);
  DeleteSubnet while a network interface sits in the subnet (EC2 API Reference, DeleteSubnet);
  DeleteVpc while a network interface, a security group other than the default one, or an
  attached internet gateway remains (DeleteVpc: "you must detach or delete all gateways and
  resources that are associated with the VPC").
- An instance's network interface created at launch is deleted when it terminates (moto keeps it).

Here the interfaces are kept in step with their owners (created as the owner appears or grows,
their groups following the owner's) after every request that may change something (and after
reads at most a quarter of a second apart), and an interface whose owner is gone (or
shrank) is removed MOTO_ENI_RELEASE_SECONDS (default 3) later. Imported by server.py after the
modules whose states it reads (data, ecs_services, egress).
"""

import threading
import time
from typing import Any, Iterator

import faults  # the request's action, read as the fault layer reads it
from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import Instance
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.subnets import SubnetBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.utils import random_private_ip
from moto.ecs.models import ecs_backends
from moto.elasticache.models import elasticache_backends
from moto.elbv2.models import elbv2_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.rds.models import rds_backends

import ecs_services
from timing import seconds

RELEASE_SECONDS_ENV = "MOTO_ENI_RELEASE_SECONDS"

_LOCK = threading.RLock()


def _release_seconds() -> float:
    return seconds(RELEASE_SECONDS_ENV, 3.0)


def _backends(backends: Any, account: str, region: str) -> Any:
    """A service backend of the account and region if it exists (never creates one)."""
    regions = dict(backends.items()).get(account)
    return dict(regions.items()).get(region) if regions is not None else None


# --- What each owner needs: (owner key, description, requester, [(subnet id, [group ids])]) ------

Want = tuple[str, str, str, list[tuple[str, list[str]]]]


def _spread(subnets: list[str], groups: list[str], count: int) -> list[tuple[str, list[str]]]:
    """`count` interfaces with `groups`, placed across `subnets` in turn."""
    return [(subnets[i % len(subnets)], groups) for i in range(count)] if subnets else []


def _load_balancers(account: str, region: str) -> Iterator[Want]:
    elbv2 = _backends(elbv2_backends, account, region)
    for lb in list(getattr(elbv2, "load_balancers", {}).values()):
        path = lb.arn.split(":loadbalancer/", 1)[-1]
        groups = list(lb.security_groups or [])
        subnets = [getattr(s, "id", s) for s in lb.subnets]
        yield f"elb:{lb.arn}", f"ELB {path}", "amazon-elb", [(s, groups) for s in subnets]


def _databases(account: str, region: str) -> Iterator[Want]:
    rds = _backends(rds_backends, account, region)
    if rds is None:
        return
    rds.describe_db_instances()  # finishes deletions whose time is up (data.py)
    for db in list(rds.databases.values()):
        group = getattr(db, "db_subnet_group", None)
        subnets = [s.id for s in getattr(group, "_subnets", [])] if group is not None else []
        if not subnets:
            continue
        count = 2 if getattr(db, "multi_az", False) else 1
        groups = list(db.vpc_security_group_ids or [])
        yield f"rds:{db.db_instance_identifier}", "RDSNetworkInterface", "amazon-rds", _spread(subnets, groups, count)


def _caches(account: str, region: str) -> Iterator[Want]:
    cache = _backends(elasticache_backends, account, region)
    if cache is None:
        return
    cache.describe_replication_groups()  # finishes deletions whose time is up (data.py)
    for group in list(cache.replication_groups.values()):
        subnet_group = cache.cache_subnet_groups.get(getattr(group, "cache_subnet_group_name", None) or "")
        subnets = list(getattr(subnet_group, "subnet_ids", None) or [])
        if not subnets:
            continue
        nodes = group.__dict__.get("_node_groups", [])
        count = max(sum(len(g.get("node_group_members", [])) for g in nodes), 1)
        groups = list(getattr(group, "security_group_ids", None) or [])
        yield (
            f"elasticache:{group.replication_group_id}",
            f"ElastiCache {group.replication_group_id}",
            "amazon-elasticache",
            _spread(subnets, groups, count),
        )


def _tasks(account: str, region: str) -> Iterator[Want]:
    ecs = _backends(ecs_backends, account, region)
    for service in list(getattr(ecs, "services", {}).values()):
        config = (getattr(service, "network_configuration", None) or {}).get("awsvpcConfiguration")
        if not config:
            continue
        with ecs_services._LOCK:  # DescribeServices may be moving it on in another thread
            ecs_services._advance(service)
        tasks = 0
        if service.status == "ACTIVE":
            tasks = sum(d.get("runningCount", 0) + d.get("pendingCount", 0) for d in service.deployments)
        subnets = list(config.get("subnets") or [])
        groups = list(config.get("securityGroups") or [])
        attachment = f"arn:aws:ecs:{region}:{account}:attachment/{service.cluster_name}/{service.name}"
        yield f"ecs:{service.arn}", attachment, "amazon-ecs", _spread(subnets, groups, tasks)


def _endpoints(ec2: Any) -> Iterator[Want]:
    for endpoint in list(getattr(ec2, "vpc_end_points", {}).values()):
        if (endpoint.vpc_endpoint_type or "").lower() != "interface" or endpoint.state == "deleted":
            continue
        groups = list(getattr(endpoint, "security_group_ids", None) or [])
        yield f"vpce:{endpoint.id}", f"VPC Endpoint Interface {endpoint.id}", "amazon-vpce", [
            (s, groups) for s in endpoint.subnet_ids or []
        ]


# --- Keeping the interfaces in step ---------------------------------------------------------------


def _owned(ec2: Any) -> dict[str, list[Any]]:
    owned: dict[str, list[Any]] = {}
    for eni in list(ec2.enis.values()):
        owner = eni.__dict__.get("_webstack_owner")
        if owner is not None:
            owned.setdefault(owner, []).append(eni)
    return owned


def _adopt_endpoint_interfaces(ec2: Any) -> None:
    """moto's own interfaces of interface VPC endpoints (moto/ec2/models/vpcs.py
    VPCBackend.create_vpc_endpoint) become the endpoint's, so they follow it like the others."""
    for endpoint in list(getattr(ec2, "vpc_end_points", {}).values()):
        for eni_id in getattr(endpoint, "network_interface_ids", None) or []:
            eni = ec2.enis.get(eni_id)
            if eni is not None and "_webstack_owner" not in eni.__dict__:
                eni.__dict__["_webstack_owner"] = f"vpce:{endpoint.id}"


def _sync(ec2: Any, account: str, region: str) -> None:
    """Creates, regroups and releases the requester-managed interfaces of the account and region,
    and removes the released ones whose time is up."""
    now = time.monotonic()
    _adopt_endpoint_interfaces(ec2)
    owned = _owned(ec2)
    wanted: dict[str, Want] = {}
    for source in (_load_balancers(account, region), _databases(account, region), _caches(account, region),
                   _tasks(account, region), _endpoints(ec2)):
        for want in source:
            wanted[want[0]] = want
    release_at = now + _release_seconds()
    # Every group by id, once per pass: looking each interface's groups up one by one walked every
    # VPC's groups per interface on every request (tests/moto/speed.py).
    groups = {g.id: g for by_id in list(ec2.groups.values()) for g in list(by_id.values())}
    for owner, enis in owned.items():
        live = [e for e in enis if "_release_at" not in e.__dict__]
        placed = list(wanted[owner][3]) if owner in wanted else []
        for eni in live:
            match = next((p for p in placed if p[0] == eni.subnet.id), None)
            if match is None:
                eni.__dict__["_release_at"] = release_at
                eni.status = "available"
                continue
            placed.remove(match)
            _set_groups(groups, eni, match[1])
        if owner in wanted:
            wanted[owner] = (*wanted[owner][:3], placed)
    for key, description, requester, placed in wanted.values():
        for subnet_id, wanted_groups in placed:
            subnet = _subnet(ec2, subnet_id)
            if subnet is None:
                continue
            eni = ec2.create_network_interface(subnet, random_private_ip(subnet.cidr_block), description=description)
            eni.__dict__["_webstack_owner"] = key
            eni.requester_managed = True
            eni.requester_id = requester
            eni.status = "in-use"
            _set_groups(groups, eni, wanted_groups)
    for eni in list(ec2.enis.values()):
        until = eni.__dict__.get("_release_at")
        if until is not None and now >= until:
            ec2.enis.pop(eni.id, None)


def _subnet(ec2: Any, subnet_id: str) -> Any:
    for subnets in ec2.subnets.values():
        if subnet_id in subnets:
            return subnets[subnet_id]
    return None


def _set_groups(by_id: dict[str, Any], eni: Any, group_ids: list[str]) -> None:
    groups = [by_id[i] for i in group_ids if i in by_id]
    if [g.id for g in eni._group_set] != [g.id for g in groups]:
        eni._group_set = groups


def sync_all() -> None:
    """Brings every existing EC2 backend's service interfaces up to date."""
    with _LOCK:
        for account, regions in list(ec2_backends.items()):
            for region, ec2 in list(regions.items()):
                _sync(ec2, account, region)


def _sync_backend(ec2: Any) -> None:
    with _LOCK:
        _sync(ec2, ec2.account_id, ec2.region_name)


# --- Every request moves the interfaces on (as AWS does in the background) -----------------------

_original_call = DomainDispatcherApplication.__call__

# A pass walks every owner and interface of every account and region: after every request, it was
# 42% of the emulator's time with 1,000 benchmark stacks (py-spy). After a request that only reads
# (Describe*, List*, Get*, Head*), nothing changed but the clock, so a pass is due only if the last
# one is this old; deletions that interfaces hold up bring their backend up to date themselves.
_READ_PREFIXES = ("Describe", "List", "Get", "Head")
_READ_SYNC_SECONDS = 0.25
_last_sync = [0.0]


def _only_reads(environ: dict[str, Any]) -> bool:
    """Whether the request is a read (every action it can be: REST ties). Reads the action as the
    fault layer does (a query request's body is read and put back)."""
    try:
        actions, _ = faults._action(environ)
    except Exception:
        return False
    return bool(actions) and all(a and a.startswith(_READ_PREFIXES) for a in actions)


def _call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
    """Wraps moto/moto_server/werkzeug_app.py DomainDispatcherApplication.__call__: after each
    request the service interfaces follow their owners (a load balancer created or deleted, a
    task started or stopped), so their lifetimes run on the clock, not on who asks. After a read,
    the interfaces are at most _READ_SYNC_SECONDS behind the clock."""
    reads = _only_reads(environ)
    try:
        return _original_call(self, environ, start_response)
    finally:
        now = time.monotonic()
        if not reads or now - _last_sync[0] >= _READ_SYNC_SECONDS:
            _last_sync[0] = now
            try:
                sync_all()
            except Exception as e:  # the emulator must not fail a request over its bookkeeping
                print(f"interfaces.py: sync failed: {e!r}", flush=True)


DomainDispatcherApplication.__call__ = _call

# --- Deletions that the interfaces (and rules) hold up ------------------------------------------

_original_delete_security_group = SecurityGroupBackend.delete_security_group


def _delete_security_group(self: Any, name: str | None = None, group_id: str | None = None) -> None:
    """Wraps moto/ec2/models/security_groups.py SecurityGroupBackend.delete_security_group:
    DependencyViolation while a network interface uses the group or another group's rule
    references it (a group's rules naming itself do not count), as AWS does (VPC User Guide,
    Delete a security group; EC2 API Reference, DeleteSecurityGroup)."""
    _sync_backend(self)
    target = group_id
    if target is None and name:
        target = getattr(self.get_security_group_by_name_or_id(name), "id", None)
    if target:
        for eni in list(self.enis.values()):
            if any(g.id == target for g in eni.group_set):
                raise DependencyViolationError(f"resource {target} has a dependent object")
        for vpc_groups in list(self.groups.values()):
            for group in list(vpc_groups.values()):
                if group.id == target:
                    continue
                for rule in list(group.ingress_rules) + list(group.egress_rules):
                    if (rule.source_group or {}).get("GroupId") == target:
                        raise DependencyViolationError(f"resource {target} has a dependent object")
    return _original_delete_security_group(self, name=name, group_id=group_id)


SecurityGroupBackend.delete_security_group = _delete_security_group

_original_delete_subnet = SubnetBackend.delete_subnet


def _delete_subnet(self: Any, subnet_id: str) -> Any:
    """Wraps SubnetBackend.delete_subnet (as egress.py left it): DependencyViolation while a
    network interface sits in the subnet (EC2 API Reference, DeleteSubnet)."""
    _sync_backend(self)
    for eni in list(self.enis.values()):
        if eni.subnet.id == subnet_id:
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
            )
    return _original_delete_subnet(self, subnet_id)


SubnetBackend.delete_subnet = _delete_subnet

_original_delete_vpc = VPCBackend.delete_vpc


def _delete_vpc(self: Any, vpc_id: str) -> Any:
    """Wraps moto/ec2/models/vpcs.py VPCBackend.delete_vpc, which refuses only while subnets,
    route tables or VPN gateways remain: DependencyViolation also while a network interface, a
    security group other than the default one, or an attached internet gateway remains
    (EC2 API Reference, DeleteVpc)."""
    _sync_backend(self)
    vpc_deps = "The vpc '{}' has dependencies and cannot be deleted."
    if any(eni.subnet.vpc_id == vpc_id for eni in list(self.enis.values())):
        raise DependencyViolationError(vpc_deps.format(vpc_id))
    if any(g.name != "default" for g in list(self.groups.get(vpc_id, {}).values())):
        raise DependencyViolationError(vpc_deps.format(vpc_id))
    for igw in list(getattr(self, "internet_gateways", {}).values()):
        if igw.vpc is not None and igw.vpc.id == vpc_id:
            raise DependencyViolationError(vpc_deps.format(vpc_id))
    return _original_delete_vpc(self, vpc_id)


VPCBackend.delete_vpc = _delete_vpc

# --- Instances: the primary network interface goes with the instance ----------------------------

_original_prep_nics = Instance.prep_nics


def _prep_nics(self: Instance, nic_spec: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
    """Wraps moto/ec2/models/instances.py Instance.prep_nics, which marks an interface created at
    launch for deletion on termination only when DeleteOnTermination=true was sent, so every
    terminated instance leaves its primary interface behind (holding its security groups and
    subnet forever). AWS: a network interface created when the instance is launched is deleted
    when the instance terminates unless DeleteOnTermination is false ("By default, network
    interfaces that are automatically created and attached to instances ... are deleted when the
    instance terminates", EC2 User Guide, Network interface attributes; InstanceNetworkInterfaceSpecification
    DeleteOnTermination: "If you are creating a network interface when launching an instance, the
    default is true")."""
    before = set(self.ec2_backend.enis)
    _original_prep_nics(self, nic_spec, *args, **kwargs)
    explicit = {
        int(n.get("DeviceIndex") or 0): n.get("DeleteOnTermination")
        for n in nic_spec or []
        if n.get("DeleteOnTermination") is not None
    }
    for index, eni in self.nics.items():
        if eni.id in before:
            continue  # an existing interface attached at launch keeps its own setting
        keep = explicit.get(index)
        eni.delete_on_termination = not (keep is False or str(keep).lower() == "false")


Instance.prep_nics = _prep_nics
