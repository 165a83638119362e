"""NAT gateways, Elastic IPs and subnets as AWS has them. Imported by server.py.

1. A NAT gateway takes time: `pending` first, then `available`; DeleteNatGateway makes it
   `deleting`, then `deleted`, and only then is its Elastic IP disassociated and its network
   interface gone. moto/ec2/models/nat_gateways.py NatGateway.__init__ sets `available` at once
   and NatGatewayBackend.delete_nat_gateway sets `deleted` at once, leaving the address
   associated and the interface in the subnet. AWS: "When you create a NAT gateway, it's
   initially in the pending state ... available"; "When you delete a NAT gateway, its Elastic IP
   address is disassociated from it, but not released" and the gateway goes "deleting" then
   "deleted" (VPC User Guide, NAT gateways, "Delete a NAT gateway"; EC2 API Reference, NatGateway
   State). Here each transition happens on the first DescribeNatGateways at least
   MOTO_NAT_TRANSITION_SECONDS (default 2) after the previous one, so the operator's waits run for
   real.

2. ReleaseAddress of an address a NAT gateway still holds fails. moto/ec2/models/
   elastic_ip_addresses.py ElasticAddressBackend.release_address disassociates and releases
   anything. AWS refuses while the address is associated with a NAT gateway's interface
   (`InvalidIPAddress.InUse`; EC2 API Reference, ReleaseAddress: "you must disassociate the
   Elastic IP address before you can release it"; NAT gateways disassociate on deletion).

3. DeleteSubnet fails while a NAT gateway (not yet deleted) or an interface VPC endpoint sits in
   the subnet. moto/ec2/models/subnets.py SubnetBackend.delete_subnet deletes regardless; AWS
   answers `DependencyViolation` ("The subnet has dependencies and cannot be deleted") while
   network interfaces remain in it (EC2 API Reference, DeleteSubnet: "You must terminate all
   running instances in the subnet before you can delete the subnet"; NAT gateway and endpoint
   interfaces are requester-managed interfaces of that subnet).

4. DescribeNatGateways filters on tags. moto/ec2/models/nat_gateways.py
   NatGatewayBackend.describe_nat_gateways knows only the `nat-gateway-id`, `vpc-id`,
   `subnet-id` and `state` filters and drops the rest, so a `tag:<key>` filter answers every
   gateway of the region. AWS applies `tag:<key>`, `tag-key` (and `tag-value`) like every EC2
   tag filter (EC2 API Reference, DescribeNatGateways, Filter.N: "tag:<key> - The key/value
   combination of a tag assigned to the resource", "tag-key - The key of a tag assigned to the
   resource"). Here those filters are applied to what moto's filters left, with moto's own
   tag matching (moto/ec2/utils.py tag_filter_matches).
"""

import time

from moto.ec2.exceptions import DependencyViolationError, EC2ClientError
from moto.ec2.models.elastic_ip_addresses import ElasticAddressBackend
from moto.ec2.models.nat_gateways import NatGateway, NatGatewayBackend
from moto.ec2.models.subnets import SubnetBackend
from moto.ec2.utils import is_tag_filter, tag_filter_matches

from timing import seconds

NAT_TRANSITION_SECONDS = seconds("MOTO_NAT_TRANSITION_SECONDS", 2.0)

_original_init = NatGateway.__init__


def _nat_init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    self.state = "pending"
    self._changed_at = time.monotonic()


NatGateway.__init__ = _nat_init


def _advance(nat):
    """Moves a gateway one state on, once enough time has passed."""
    if time.monotonic() - getattr(nat, "_changed_at", 0.0) < NAT_TRANSITION_SECONDS:
        return
    if nat.state == "pending":
        nat.state = "available"
        nat._changed_at = time.monotonic()
    elif nat.state == "deleting":
        nat.state = "deleted"
        nat._changed_at = time.monotonic()
        backend = nat.ec2_backend
        for a in nat.address_set:
            for eip in backend.addresses:
                if eip.allocation_id and eip.allocation_id == a.get("allocationId") and eip.association_id:
                    backend.disassociate_address(association_id=eip.association_id)
            a.pop("associationId", None)
        backend.enis.pop(nat._eni.id, None)


_original_describe = NatGatewayBackend.describe_nat_gateways


def _describe_nat_gateways(self, filters, nat_gateway_ids):
    for nat in self.nat_gateways.values():
        _advance(nat)
    found = _original_describe(self, filters, nat_gateway_ids)
    for name, values in (filters or {}).items():
        if is_tag_filter(name):
            found = [nat for nat in found if tag_filter_matches(nat, name, values)]
    return found


def _delete_nat_gateway(self, nat_gateway_id):
    nat = self.nat_gateways.get(nat_gateway_id)
    if nat is None:
        raise EC2ClientError("NatGatewayNotFound", f"NAT gateway {nat_gateway_id} was not found")
    if nat.state in ("pending", "available", "failed"):
        nat.state = "deleting"
        nat._changed_at = time.monotonic()
    return nat


NatGatewayBackend.describe_nat_gateways = _describe_nat_gateways
NatGatewayBackend.delete_nat_gateway = _delete_nat_gateway

_original_release = ElasticAddressBackend.release_address


def _release_address(self, address=None, allocation_id=None):
    eips = self.address_by_ip([address]) if address else self.address_by_allocation([allocation_id])
    eip = eips[0]
    holders = [
        nat
        for nat in getattr(self, "nat_gateways", {}).values()
        if nat.state != "deleted" and any(a.get("allocationId") == eip.allocation_id for a in nat.address_set)
    ]
    if holders:
        raise EC2ClientError(
            "InvalidIPAddress.InUse",
            f"Address {eip.public_ip} is in use by NAT gateway {holders[0].id}",
        )
    return _original_release(self, address=address, allocation_id=allocation_id)


ElasticAddressBackend.release_address = _release_address

_original_delete_subnet = SubnetBackend.delete_subnet


def _delete_subnet(self, subnet_id):
    for nat in getattr(self, "nat_gateways", {}).values():
        if nat.subnet_id == subnet_id and nat.state != "deleted":
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted (NAT gateway {nat.id})."
            )
    for endpoint in getattr(self, "vpc_end_points", {}).values():
        if endpoint.state != "deleted" and subnet_id in (endpoint.subnet_ids or []):
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted (VPC endpoint {endpoint.id})."
            )
    return _original_delete_subnet(self, subnet_id)


SubnetBackend.delete_subnet = _delete_subnet
