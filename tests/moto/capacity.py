"""EC2 capacity: AWS managed IAM policies, services on capacity providers, capacity providers in use.

What moto 5.2.5 supports as is (checked with boto3 against it): IAM roles and instance profiles
with tags; the public SSM parameter
/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id (and arm64) from its bundled
ecs/optimized_amis data; launch templates with versions and tags; Auto Scaling groups on a launch
template with propagated tags, ForceDelete terminating their instances; ECS capacity providers
with managed scaling, tags and PutClusterCapacityProviders. Where it falls short:

1. AWS managed policies exist in every account. moto/iam/models.py IAMBackend._init_aws_policies
   creates none unless MOTO_IAM_LOAD_MANAGED_POLICIES is set (moto/settings.py
   load_iam_aws_managed_policies), so AttachRolePolicy with
   arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role fails NoSuchEntity.
   AWS: "AWS managed policies ... are available in every AWS account" (IAM User Guide, "AWS managed
   policies"). Replaced: the name `load_iam_aws_managed_policies` as moto/iam/models.py imported it.

2. CreateService keeps `capacityProviderStrategy`. moto/ecs/responses.py
   EC2ContainerServiceResponse.create_service does not read it and moto/ecs/models.py
   EC2ContainerServiceBackend.create_service sets `launchType: EC2` for every service without one.
   AWS stores the strategy, reports it in DescribeServices with no launchType, and refuses both
   together: "If a capacityProviderStrategy is specified, the launchType parameter must be
   omitted" (ECS API Reference, CreateService). Wrapped: create_service (response side).
   UpdateService to a strategy likewise leaves no launchType (moto keeps the old one).

3. A capacity provider a cluster has cannot be deleted, nor one a service uses be taken off the
   cluster. moto/ecs/models.py EC2ContainerServiceBackend.delete_capacity_provider deletes any
   (and raises AttributeError, an HTTP 500, for an unknown one); put_cluster_capacity_providers
   removes any. AWS: "Only capacity providers that aren't associated with a cluster can be
   deleted. To remove a capacity provider from a cluster, you can either use
   PutClusterCapacityProviders or delete the cluster" (DeleteCapacityProvider), and
   PutClusterCapacityProviders: "If a capacity provider is in use by a service ... it cannot be
   removed" (ResourceInUseException). Replaced: both backend methods.

4. DescribeCapacityProviders without names describes them all. moto/ecs/models.py
   EC2ContainerServiceBackend.describe_capacity_providers iterates over `None` (HTTP 500). AWS:
   "capacityProviders: The short name or full Amazon Resource Name (ARN) of one or more capacity
   providers" is optional, and without it every capacity provider of the account is described
   (DescribeCapacityProviders). Wrapped: that backend method (the tests list what is left).

Imported by server.py.
"""

from typing import Any

import moto.iam.models as iam_models
from moto.ecs.exceptions import EcsClientException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.ecs.exceptions import ECSException

# 1. AWS managed policies in every account.
iam_models.load_iam_aws_managed_policies = lambda: True


class ResourceInUseException(ECSException):
    def __init__(self, message: str):
        super().__init__("ResourceInUseException", message)


# 2. CreateService / UpdateService with a capacity provider strategy.
_original_create_service = EC2ContainerServiceResponse.create_service


def _create_service(self: EC2ContainerServiceResponse) -> Any:
    strategy = self._get_param("capacityProviderStrategy")
    if strategy and self._get_param("launchType"):
        raise InvalidParameterException(
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."
        )
    if strategy:
        cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default"))
        for item in strategy:
            if item["capacityProvider"] not in (cluster.capacity_providers or []):
                raise InvalidParameterException(
                    f"The specified capacity provider {item['capacityProvider']} is not in the cluster's "
                    "capacity providers. Use PutClusterCapacityProviders to associate it with the cluster."
                )
    result = _original_create_service(self)
    if strategy:
        service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
        service.capacity_provider_strategy = strategy
        service.launch_type = None
        for d in service.deployments:
            d["launchType"] = None
            d["capacityProviderStrategy"] = strategy
    return result


EC2ContainerServiceResponse.create_service = _create_service

_original_update_service = EC2ContainerServiceBackend.update_service


def _update_service(self: EC2ContainerServiceBackend, service_properties: dict[str, Any]) -> Any:
    moving = bool(service_properties.get("capacity_provider_strategy"))
    service = _original_update_service(self, service_properties)
    if moving:
        service.launch_type = None
    return service


EC2ContainerServiceBackend.update_service = _update_service


# 3. Capacity providers in use.
def _delete_capacity_provider(self: EC2ContainerServiceBackend, name_or_arn: str) -> Any:
    provider = self._get_provider(name_or_arn)
    if provider is None:
        raise EcsClientException("The specified capacity provider does not exist.")
    for cluster in self.clusters.values():
        if provider.name in (cluster.capacity_providers or []):
            raise EcsClientException(
                f"The specified capacity provider is in use by cluster {cluster.name} and cannot be deleted. "
                "Remove it from the cluster with PutClusterCapacityProviders first."
            )
    self.capacity_providers.pop(provider.name)
    provider.status = "INACTIVE"
    provider.update_status = "DELETE_COMPLETE"
    return provider


EC2ContainerServiceBackend.delete_capacity_provider = _delete_capacity_provider

_original_put_cluster_capacity_providers = EC2ContainerServiceBackend.put_cluster_capacity_providers


def _put_cluster_capacity_providers(
    self: EC2ContainerServiceBackend,
    cluster_name: str,
    capacity_providers: list[str] | None,
    default_capacity_provider_strategy: list[dict[str, Any]] | None,
) -> Any:
    cluster = self._get_cluster(cluster_name)
    removed = set(cluster.capacity_providers or []) - set(capacity_providers or [])
    for service in self.services.values():
        if service.cluster_name != cluster.name or service.status != "ACTIVE":
            continue
        used = {i.get("capacityProvider") for i in getattr(service, "capacity_provider_strategy", None) or []}
        if used & removed:
            raise ResourceInUseException(
                f"The specified capacity provider {sorted(used & removed)[0]} is in use and cannot be removed."
            )
    return _original_put_cluster_capacity_providers(
        self, cluster_name, capacity_providers, default_capacity_provider_strategy
    )


EC2ContainerServiceBackend.put_cluster_capacity_providers = _put_cluster_capacity_providers


# 4. DescribeCapacityProviders without names.
_original_describe_capacity_providers = EC2ContainerServiceBackend.describe_capacity_providers


def _describe_capacity_providers(self: EC2ContainerServiceBackend, names: list[str] | None) -> Any:
    if not names:
        return list(self.capacity_providers.values()), []
    return _original_describe_capacity_providers(self, names)


EC2ContainerServiceBackend.describe_capacity_providers = _describe_capacity_providers
