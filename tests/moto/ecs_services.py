"""ECS services: the settings CreateService is given, and tasks that all start.

1. CreateService keeps `deploymentConfiguration` and `healthCheckGracePeriodSeconds`.
moto/ecs/responses.py EC2ContainerServiceResponse.create_service does not pass them on to the
backend, so DescribeServices omits them until an UpdateService sets them (which moto does keep).
AWS stores both at creation and returns them in DescribeServices (ECS API Reference,
CreateService and Service). Without this a new service looks changed by hand on its first
re-check, and the operator "corrects" it once.

2. Services whose tasks all start (MOTO_ECS_SERVICE_RUNNING=desired).

moto runs no tasks; moto/ecs/models.py Service.__init__ reports `runningCount` from the
environment variable MOTO_ECS_SERVICE_RUNNING, one number for every service of the emulator, so
a manifest whose services want different counts (reference architecture 2: 1 and 2) can never
have all of them complete. On AWS, a healthy service's deployment places `desiredCount` tasks
and then reports rolloutState COMPLETED with runningCount equal to desiredCount (ECS Developer
Guide, "Deployment circuit breaker" / DescribeServices Deployment). With the value `desired`,
each new service reports exactly that: every task started, the deployment COMPLETED. Any other
value keeps moto's behaviour. (UpdateService already sets runningCount to a new desiredCount.)
Imported by server.py.
"""

import os
from typing import Any

from moto.ecs.models import Service
from moto.ecs.responses import EC2ContainerServiceResponse

_original_create_service = EC2ContainerServiceResponse.create_service


def _create_service(self: EC2ContainerServiceResponse) -> Any:
    result = _original_create_service(self)
    service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
    deployment = self._get_param("deploymentConfiguration")
    if deployment is not None:
        service.deployment_configuration = deployment
    grace = self._get_param("healthCheckGracePeriodSeconds")
    if grace is not None:
        service.health_check_grace_period_seconds = grace
    return result


EC2ContainerServiceResponse.create_service = _create_service

_original_init = Service.__init__


def _init(self: Service, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    if os.environ.get("MOTO_ECS_SERVICE_RUNNING") != "desired":
        return
    self.running_count = self.desired_count
    self.pending_count = 0
    for d in self.deployments:
        d["runningCount"] = self.desired_count
        d["pendingCount"] = 0
        d["rolloutState"] = "COMPLETED"
        d["rolloutStateReason"] = f"ECS deployment {d['id']} completed."


Service.__init__ = _init
