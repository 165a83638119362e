"""ECS services: the settings CreateService is given, and tasks that all start.

1. CreateService keeps `deploymentConfiguration` and `healthCheckGracePeriodSeconds`.
moto/ecs/responses.py EC2ContainerServiceResponse.create_service does not pass them on to the
backend, so DescribeServices omits them until an UpdateService sets them (which moto does keep).
AWS stores both at creation and returns them in DescribeServices (ECS API Reference,
CreateService and Service). Without this a new service looks changed by hand on its first
re-check, and the operator "corrects" it once.

2. Deployments that take time, and fail (retires MOTO_ECS_SERVICE_RUNNING=desired).

moto runs no tasks: moto/ecs/models.py Service.__init__ reports `runningCount` from the
environment variable MOTO_ECS_SERVICE_RUNNING, one number for every service, and marks the one
deployment COMPLETED only when that number reaches the desired count; UpdateService
(ecs backend update_service) sets runningCount to a new desiredCount at once and never starts a
deployment for a new task definition. So IN_PROGRESS, FAILED and rollback never happen. On AWS
(ECS Developer Guide, "Deploy Amazon ECS services by replacing tasks" and "How the Amazon ECS
deployment circuit breaker detects failures"; API Reference, Deployment):
- CreateService starts a PRIMARY deployment, rolloutState IN_PROGRESS, pendingCount falling and
  runningCount rising as tasks start, COMPLETED once runningCount reaches desiredCount.
- UpdateService with another task definition (or forceNewDeployment) starts a new PRIMARY
  deployment; the previous one becomes ACTIVE and drains as the new one's tasks start, and goes
  once the new one is COMPLETED. A desiredCount change moves the running count of the PRIMARY
  deployment towards it (its rolloutState unchanged).
- Tasks that cannot start (an image that cannot be pulled) count as failedTasks; with the circuit
  breaker enabled the deployment becomes FAILED ("ECS deployment <id> failed: tasks failed to
  start."), and with rollback ECS starts a new PRIMARY deployment of the last COMPLETED
  deployment's task definition (the service's taskDefinition goes back to it); the failed one
  stays ACTIVE, FAILED, until the rollback completes. Without the circuit breaker it stays
  IN_PROGRESS, retrying.
Here each phase takes MOTO_ECS_DEPLOY_SECONDS (default 2, time compressed from AWS's minutes),
advanced whenever DescribeServices reads the service. The emulator control
POST /webstack/ecs/unpullable {"images": ["<image>", ...]} makes every task of a task definition
naming one of those images fail to start (replacing the list; {} clears it); GET answers the list.
Tasks whose execution or task role was created less than MOTO_IAM_ROLE_PROPAGATION_SECONDS
(default 5) ago fail to start too (see `_usable_at`), and trip the breaker only if they reach its
threshold before the role becomes usable.
3. A service's target group must be behind a load balancer (below).
Imported by server.py.
"""

import datetime
import json
import threading
import time
from typing import Any

from moto.core.utils import utcnow
from moto.ecs.models import EC2ContainerServiceBackend, Service
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from timing import seconds

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

UNPULLABLE: set[str] = set()
_LOCK = threading.Lock()


def _seconds() -> float:
    return seconds("MOTO_ECS_DEPLOY_SECONDS", 2.0)


def _state(service: Service) -> dict[str, dict[str, Any]]:
    """The emulator's own record of each deployment (by id): when its tasks began to start, from
    how many, and whether they fail."""
    if not hasattr(service, "_webstack_deployments"):
        service._webstack_deployments = {}
    return service._webstack_deployments


def _fails(service: Service, task_definition: str | None) -> bool:
    if not task_definition or not UNPULLABLE:
        return False
    try:
        td = service._backend.describe_task_definition(task_definition)
    except Exception:  # noqa: BLE001 - a deregistered revision: its tasks cannot start either
        return True
    return any(c.get("image") in UNPULLABLE for c in td.container_definitions)


ROLE_PROPAGATION_ENV = "MOTO_IAM_ROLE_PROPAGATION_SECONDS"


def _usable_at(service: Service, task_definition: str | None) -> float:
    """When (time.time()) ECS can assume the task definition's execution and task roles: their
    IAM creation date plus MOTO_IAM_ROLE_PROPAGATION_SECONDS (default 5). IAM is eventually
    consistent (IAM User Guide, "Changes that I make are not always immediately visible"): a task
    started with a role created seconds earlier fails ("ECS was unable to assume the role"). A
    role the emulator's IAM does not hold is taken as usable."""
    window = seconds(ROLE_PROPAGATION_ENV, 5.0)
    if not task_definition or window == 0:
        return 0.0
    try:
        td = service._backend.describe_task_definition(task_definition)
    except Exception:  # noqa: BLE001 - a deregistered revision fails anyway (_fails)
        return 0.0
    from moto.iam.models import iam_backends

    iam = iam_backends[service._account_id]["global"]
    usable = 0.0
    for arn in (getattr(td, "execution_role_arn", None), getattr(td, "task_role_arn", None)):
        role = next((r for r in iam.get_roles() if r.arn == arn), None) if arn else None
        if role is not None:
            created = role.create_date
            if created.tzinfo is None:  # moto keeps naive UTC datetimes
                created = created.replace(tzinfo=datetime.timezone.utc)
            usable = max(usable, created.timestamp() + window)
    return usable


def _threshold(desired: int) -> int:
    """The circuit breaker's failed-task threshold: half the desired count, at least 3 and at most
    200 (ECS Developer Guide, "How the Amazon ECS deployment circuit breaker detects failures")."""
    return min(max(3, -(-desired // 2)), 200)


def _new_deployment(service: Service, task_definition: str | None) -> None:
    """A new PRIMARY deployment of `task_definition`; the previous PRIMARY becomes ACTIVE."""
    now = time.time()
    for d in service.deployments:
        if d["status"] == "PRIMARY":
            d["status"] = "ACTIVE"
            d["desiredCount"] = 0
    deployment_id = f"ecs-svc/{int(now * 1000000) % 10**16:016d}"
    service.deployments.insert(
        0,
        {
            "createdAt": utcnow(),
            "desiredCount": service.desired_count,
            "failedTasks": 0,
            "id": deployment_id,
            "launchType": service.launch_type,
            "pendingCount": service.desired_count,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
            "runningCount": 0,
            "platformVersion": service.platform_version,
            "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
            "status": "PRIMARY",
            "taskDefinition": task_definition,
            "updatedAt": utcnow(),
        },
    )
    _state(service)[deployment_id] = {
        "since": now,
        "base": 0,
        "fails": _fails(service, task_definition),
        "young_until": _usable_at(service, task_definition),
    }


def _breaker(service: Service) -> tuple[bool, bool]:
    config = getattr(service, "deployment_configuration", None) or {}
    b = config.get("deploymentCircuitBreaker") or {}
    return bool(b.get("enable")), bool(b.get("rollback"))


def _advance(service: Service) -> None:
    """Moves the service's deployments on to now."""
    if not service.deployments or service.status != "ACTIVE":
        return
    now, span = time.time(), _seconds()
    state = _state(service)
    primary = next((d for d in service.deployments if d["status"] == "PRIMARY"), None)
    if primary is None:
        return
    p = state.setdefault(primary["id"], {"since": now, "base": primary["runningCount"], "fails": False})
    primary["desiredCount"] = service.desired_count
    # Tasks whose roles ECS cannot assume yet fail to start, as many per MOTO_ECS_DEPLOY_SECONDS as
    # the service wants; the breaker trips only once they reach its threshold (a single-task
    # service rides out a few seconds of it), and once the roles are usable tasks start.
    young = now < p.get("young_until", 0.0)
    if p["fails"] or young:
        elapsed = now - p["since"]
        primary["failedTasks"] = int(elapsed / max(span, 0.01) * max(service.desired_count, 1)) if span else 1
        primary["runningCount"], primary["pendingCount"] = 0, service.desired_count
        enable, rollback = _breaker(service)
        tripped = elapsed >= span if p["fails"] else primary["failedTasks"] >= _threshold(service.desired_count)
        if enable and primary["rolloutState"] == "IN_PROGRESS" and tripped:
            primary["rolloutState"] = "FAILED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} failed: tasks failed to start."
            primary["updatedAt"] = utcnow()
            previous = getattr(service, "_webstack_completed", None)
            if rollback and previous and previous != primary["taskDefinition"]:
                service.task_definition = previous
                _new_deployment(service, previous)
                _advance(service)
                return
    else:
        if p.get("young_until", 0.0) > p["since"]:
            p["since"] = p["young_until"]  # the tasks start once their roles are usable
        target = service.desired_count
        fraction = 1.0 if span == 0 else min((now - p["since"]) / span, 1.0)
        running = p["base"] + int((target - p["base"]) * fraction)
        primary["runningCount"], primary["pendingCount"] = running, max(target - running, 0)
        if running == target and primary["rolloutState"] == "IN_PROGRESS":
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
            primary["updatedAt"] = utcnow()
            service._webstack_completed = primary["taskDefinition"]
    # The older deployments drain as the primary's tasks start, and go once it is COMPLETED.
    started = primary["runningCount"]
    for d in service.deployments:
        if d is primary:
            continue
        o = state.setdefault(d["id"], {"since": now, "base": d["runningCount"], "fails": False})
        d["runningCount"] = max(o["base"] - started, 0)
        d["pendingCount"] = 0
    if primary["rolloutState"] == "COMPLETED":
        service.deployments[:] = [primary]
    service.running_count = sum(d["runningCount"] for d in service.deployments)
    service.pending_count = primary["pendingCount"]


_original_init = Service.__init__


def _init(self: Service, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    if not self.deployments:
        return
    # The one deployment moto made: its tasks start from none, now.
    self.deployments.clear()
    self.running_count = 0
    _new_deployment(self, self.task_definition)


Service.__init__ = _init

_original_describe = EC2ContainerServiceBackend.describe_services


def _describe(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
    result, failures = _original_describe(self, *args, **kwargs)
    with _LOCK:
        for service in result:
            _advance(service)
    return result, failures


EC2ContainerServiceBackend.describe_services = _describe

_original_update = EC2ContainerServiceBackend.update_service


def _update(self: EC2ContainerServiceBackend, service_properties: dict[str, Any]) -> Service:
    cluster = service_properties.get("cluster", "default")
    name = service_properties.get("service", "").split("/")[-1]
    task_definition = service_properties.get("task_definition")
    force = service_properties.get("force_new_deployment", False)
    with _LOCK:
        before = self._get_service(cluster, name)
        _advance(before)
        running = before.running_count
        service = _original_update(self, service_properties)
        # moto set runningCount to a new desiredCount at once: tasks start over time instead.
        service.running_count = running
        primary = next((d for d in service.deployments if d["status"] == "PRIMARY"), None)
        if task_definition:
            task_definition = service.task_definition
        if primary is not None and ((task_definition and task_definition != primary["taskDefinition"]) or force):
            _new_deployment(service, service.task_definition)
        elif primary is not None:
            _state(service)[primary["id"]] = {
                "since": time.time(),
                "base": primary["runningCount"],
                "fails": _state(service).get(primary["id"], {}).get("fails", False),
                "young_until": _state(service).get(primary["id"], {}).get("young_until", 0.0),
            }
        _advance(service)
    return service


EC2ContainerServiceBackend.update_service = _update

_original_call = DomainDispatcherApplication.__call__


def _call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
    if environ.get("PATH_INFO") == "/webstack/ecs/unpullable":
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            UNPULLABLE.clear()
            UNPULLABLE.update(body.get("images", []))
        out = json.dumps({"images": sorted(UNPULLABLE)}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
        return [out]
    return _original_call(self, environ, start_response)


DomainDispatcherApplication.__call__ = _call

# --- 3. A service's target group must be behind a load balancer.
#
# moto/ecs/models.py EC2ContainerServiceBackend.create_service and update_service accept any
# target group ARN in `loadBalancers`. AWS refuses a target group no listener or rule of a load
# balancer forwards to: InvalidParameterException "The target group with targetGroupArn <arn>
# does not have an associated load balancer." (ECS Developer Guide, "Use load balancing to
# distribute Amazon ECS service traffic"; the group must be associated with a listener first).
# And moto/elbv2/models.py ELBv2Backend associates a group with its load balancer only in
# create_listener and create_rule, never in modify_listener or modify_rule, nor clears it when
# nothing forwards to it any more; AWS's LoadBalancerArns (DescribeTargetGroups) lists the load
# balancers whose listeners or rules forward to the group. After each of those calls the
# associations of every group are recomputed from the listeners and rules, under one lock with
# the call itself: moto_server answers each request on its own thread (werkzeug, threaded=True),
# and two rules created at once each recomputed from what it saw, the later write keeping the
# older view: a group whose rule was created stayed without its load balancer for good, and its
# service waited for it (a CI failure of examples_e2e's example 4; tests/moto/check_associations.py
# reproduced it in 2 of 50 rounds of eight concurrent CreateRule calls).

import inspect

from moto.ecs.exceptions import InvalidParameterException
from moto.elbv2.models import ELBv2Backend, elbv2_backends


def _associate(backend: ELBv2Backend) -> None:
    """Every target group's load balancers: those with a listener or rule forwarding to it."""
    # Copies of moto's dicts: a load balancer or group created on another thread meanwhile (not
    # under the lock) must not break the iteration.
    behind: dict[str, list[str]] = {arn: [] for arn in list(backend.target_groups)}
    for lb in list(backend.load_balancers.values()):
        for listener in list(lb.listeners.values()):
            actions = list(listener.default_actions)
            for rule in list(listener.rules.values()):
                actions.extend(getattr(rule, "actions", []) or [])
            for action in actions:
                if getattr(action, "type", None) != "forward":
                    continue
                for arn in backend._get_target_group_arns_from(action_data=action.data):
                    if arn in behind and lb.arn not in behind[arn]:
                        behind[arn].append(lb.arn)
    for arn, lbs in behind.items():
        group = backend.target_groups.get(arn)
        if group is not None:
            group.load_balancer_arns = lbs


_ASSOCIATIONS = threading.RLock()

for _name in ("create_listener", "create_rule", "modify_listener", "modify_rule", "delete_rule", "delete_listener"):
    _original_elb = getattr(ELBv2Backend, _name)

    def _wrapped(self: ELBv2Backend, *args: Any, _original: Any = _original_elb, **kwargs: Any) -> Any:
        with _ASSOCIATIONS:
            result = _original(self, *args, **kwargs)
            _associate(self)
        return result

    setattr(ELBv2Backend, _name, _wrapped)


def _check_target_groups(backend: EC2ContainerServiceBackend, load_balancers: Any) -> None:
    elb = elbv2_backends[backend.account_id][backend.region_name]
    for lb in load_balancers or []:
        arn = lb.get("targetGroupArn")
        group = elb.target_groups.get(arn) if arn else None
        if group is not None and not group.load_balancer_arns:
            raise InvalidParameterException(
                f"The target group with targetGroupArn {arn} does not have an associated load balancer."
            )


_original_create_backend = EC2ContainerServiceBackend.create_service
_create_signature = inspect.signature(_original_create_backend)


def _create_backend(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
    bound = _create_signature.bind(self, *args, **kwargs)
    _check_target_groups(self, bound.arguments.get("load_balancers"))
    return _original_create_backend(self, *args, **kwargs)


EC2ContainerServiceBackend.create_service = _create_backend

_original_update_backend = EC2ContainerServiceBackend.update_service


def _update_backend(self: EC2ContainerServiceBackend, service_properties: dict[str, Any]) -> Service:
    _check_target_groups(self, service_properties.get("load_balancers"))
    return _original_update_backend(self, service_properties)


EC2ContainerServiceBackend.update_service = _update_backend
