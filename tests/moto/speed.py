"""Lookups that stay cheap with many resources: the same answers as moto 5.2.5, without its scans.

moto serves each request in time that grows with everything the account holds: an EC2 resource's
tags are found by scanning every tag of every resource with a regular expression, a security group
by walking every group of every VPC, and the request's service by listing moto's package directory
on disk. A describe that filters N resources by tag then costs N x (all tags): profiled with py-spy
while 50 benchmark stacks converged, `TagBackend.describe_tags` called from `get_tags` took 57% of
the emulator's time and the directory listing 7%, and the emulator's cost per stack grew with the
number of stacks (1.1 CPU seconds per stack at 10 stacks, 6.4 at 100). AWS's answers do not depend
on how many other resources exist, and nothing here changes an answer: only how it is found.
"""

from typing import Any

import moto.backends
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix


def _get_tags(self: Any) -> list[dict[str, str]]:
    """Replaces moto/ec2/models/core.py TaggedEC2Resource.get_tags.

    moto calls `describe_tags(filters={"resource-id": [self.id]})`, which compiles the id into an
    anchored pattern (fnmatch.translate) and matches it against every tagged resource of the
    backend. The tags are stored by resource id (moto/ec2/models/tags.py TagBackend.tags), so the
    same entries, in the same order and shape, are read directly.
    """
    resource_id = self.id
    if not resource_id:
        return []
    tags = self.ec2_backend.tags.get(resource_id)
    if not tags:
        return []
    resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
        for key, value in list(tags.items())
    ]


TaggedEC2Resource.get_tags = _get_tags


def _get_security_group_from_id(self: Any, group_id: str) -> Any:
    """Replaces moto/ec2/models/security_groups.py SecurityGroupBackend.get_security_group_from_id.

    moto walks every group of every VPC comparing ids; its groups are stored per VPC by group id
    (`self.groups[vpc_id][group_id] = group` in create_security_group), so each VPC's table is
    asked instead. Group ids are unique, so the group found is the one the walk finds.
    """
    for groups in list(self.groups.values()):
        group = groups.get(group_id)
        if group is not None:
            return group
    return None


SecurityGroupBackend.get_security_group_from_id = _get_security_group_from_id

_MODULES = tuple(moto.backends.list_of_moto_modules())


def _list_of_moto_modules() -> tuple[str, ...]:
    """Replaces moto/backends.py list_of_moto_modules, which lists moto's package directory and
    stats each entry on every request (moto_server's DomainDispatcherApplication.
    get_backend_for_host). The installed package does not change while the server runs."""
    return _MODULES


moto.backends.list_of_moto_modules = _list_of_moto_modules
