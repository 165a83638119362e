"""The authorizations of the services whose resources are ARNs (used by iam_requests.py).

ELBv2, ECS, RDS, ElastiCache, IAM, CloudFront, Route 53, CloudWatch, SNS, ECR, Secrets Manager,
CloudWatch Logs and Application Auto Scaling: per operation, the resource ARN the Service
Authorization Reference lists for the action (from the request, or moto's backends), the resource's
tags from moto (aws:ResourceTag), the request's tags (aws:RequestTag, aws:TagKeys) and the
service's condition keys; the tagging action of a create call that carries tags. See
iam_requests.py for the conventions.
"""

from __future__ import annotations

from typing import Any

from iam_eval import Authorization, _tag_dict
from iam_requests import A, Req, _as_list, _backend, _tags_or_empty, pass_role, req_ctx, res_ctx, slr, unknown

# --- Services whose resources are ARNs ------------------------------------------------------------

def tagged_create(action: str, arn: str, tags: dict, tag_action: str | None, create_key: str | None = None,
                  extra_ctx: dict | None = None) -> list[Authorization]:
    """A create call with its tags: the create action on the new resource (aws:RequestTag,
    aws:TagKeys) and, when tags are given, the service's tagging action on it too (each service's
    "tag on create" authorization; `<service>:CreateAction` where the service defines it)."""
    out = [A(action, arn, {**req_ctx(tags), **(extra_ctx or {})})]
    if tags and tag_action:
        ctx = req_ctx(tags)
        if create_key:
            ctx[create_key] = [action.split(":", 1)[1]]
        out.append(A(tag_action, arn, ctx))
    return out


def on(action: str, arn: str, tags: dict, extra: dict | None = None) -> Authorization:
    return A(action, arn, {**res_ctx(tags), **(extra or {})})


def star(req: Req) -> list[Authorization]:
    """Actions whose SAR resource type is `*` (list and describe calls): authorized against `*`."""
    return [A(f"{req.service}:{req.op}", "*")]


def tagging(tags_of, arn_param: str, tags_param: str | None, keys_param: str | None) -> Any:
    """TagResource/UntagResource-style calls: the resource's tags, the tags sent or keys removed."""

    def handler(req: Req) -> list[Authorization]:
        out = []
        for arn in _as_list(req.get(arn_param)):
            ctx = res_ctx(tags_of(req, arn))
            if tags_param:
                ctx.update(req_ctx(_tag_dict(req.get(tags_param))))
            if keys_param:
                ctx["aws:TagKeys"] = [k.get("Key") if isinstance(k, dict) else k for k in _as_list(req.get(keys_param))]
            out.append(A(f"{req.service}:{req.op}", arn, ctx))
        return out or unknown(f"{req.service}:{req.op}", f"no {arn_param} in the request")

    return handler


def existing(tags_of, arn_of) -> Any:
    """A call on one existing resource: its ARN from the request, its tags from moto."""

    def handler(req: Req) -> list[Authorization]:
        arns = arn_of(req)
        if not arns:
            return unknown(f"{req.service}:{req.op}", "no resource named in the request")
        return [on(f"{req.service}:{req.op}", arn, tags_of(req, arn)) for arn in _as_list(arns)]

    return handler


# ELBv2 ("Elastic Load Balancing v2" SAR: loadbalancer/app|net, targetgroup, listener, listener-rule)

def elb_tags(req: Req, arn: str) -> dict:
    return _tags_or_empty(lambda: _backend("elbv2", req).describe_tags([arn])[arn])


def elb_create_lb(req: Req) -> list[Authorization]:
    kind = {"network": "net", "gateway": "gwy"}.get(req.get("Type", "application"), "app")
    arn = req.arn("elasticloadbalancing", f"loadbalancer/{kind}/{req.get('Name')}/*")
    return (tagged_create("elasticloadbalancing:CreateLoadBalancer", arn, _tag_dict(req.get("Tags")),
                          "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateAction")
            + slr(req, "elasticloadbalancing.amazonaws.com", "AWSServiceRoleForElasticLoadBalancing"))


def elb_create_tg(req: Req) -> list[Authorization]:
    arn = req.arn("elasticloadbalancing", f"targetgroup/{req.get('Name')}/*")
    return tagged_create("elasticloadbalancing:CreateTargetGroup", arn, _tag_dict(req.get("Tags")),
                         "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateAction")


def elb_create_child(parent_param: str, kind: str) -> Any:
    """CreateListener / CreateRule: the SAR lists the parent (load balancer / listener) as the
    resource, with aws:RequestTag for the new child's tags and the parent's aws:ResourceTag; the
    tags themselves need elasticloadbalancing:AddTags on the new listener / rule."""

    def handler(req: Req) -> list[Authorization]:
        parent = req.get(parent_param)
        tags = _tag_dict(req.get("Tags"))
        out = [A(f"elasticloadbalancing:{req.op}", parent, {**req_ctx(tags), **res_ctx(elb_tags(req, parent))})]
        if tags:
            rest = parent.split(":", 5)[5].split("/", 1)[1]
            new = req.arn("elasticloadbalancing", f"{kind}/{rest}/*")
            out.append(A("elasticloadbalancing:AddTags", new,
                         {**req_ctx(tags), "elasticloadbalancing:CreateAction": [req.op]}))
        return out

    return handler


def _rule_arns(req: Req) -> list:
    return [p.get("RuleArn") for p in _as_list(req.get("RulePriorities"))]


ELB_ONE = {"DeleteListener": "ListenerArn", "DeleteLoadBalancer": "LoadBalancerArn", "DeleteRule": "RuleArn",
           "DeleteTargetGroup": "TargetGroupArn", "ModifyListener": "ListenerArn",
           "ModifyLoadBalancerAttributes": "LoadBalancerArn", "ModifyRule": "RuleArn",
           "ModifyTargetGroup": "TargetGroupArn", "ModifyTargetGroupAttributes": "TargetGroupArn",
           "SetSecurityGroups": "LoadBalancerArn", "DescribeLoadBalancerAttributes": "LoadBalancerArn",
           "DescribeTargetGroupAttributes": "TargetGroupArn", "RegisterTargets": "TargetGroupArn",
           "DeregisterTargets": "TargetGroupArn"}

ELBV2 = {
    "CreateLoadBalancer": elb_create_lb,
    "CreateTargetGroup": elb_create_tg,
    "CreateListener": elb_create_child("LoadBalancerArn", "listener"),
    "CreateRule": elb_create_child("ListenerArn", "listener-rule"),
    "AddTags": tagging(elb_tags, "ResourceArns", "Tags", None),
    "RemoveTags": tagging(elb_tags, "ResourceArns", None, "TagKeys"),
    "SetRulePriorities": existing(elb_tags, _rule_arns),
    **{op: existing(elb_tags, (lambda p: lambda req: req.get(p))(param)) for op, param in ELB_ONE.items()},
    **{op: star for op in ("DescribeListeners", "DescribeLoadBalancers", "DescribeRules", "DescribeTags",
                           "DescribeTargetGroups", "DescribeTargetHealth", "DescribeListenerAttributes")},
}


# ECS (SAR: cluster, service, task-definition, capacity-provider)

def ecs_tags(req: Req, arn: str) -> dict:
    return _tags_or_empty(lambda: _backend("ecs", req).list_tags_for_resource(arn))


def ecs_cluster(req: Req, name: str | None) -> str:
    name = name or "default"
    return name if name.startswith("arn:") else req.arn("ecs", f"cluster/{name}")


def ecs_service(req: Req) -> str:
    svc = req.get("service") or req.get("serviceName")
    if svc.startswith("arn:"):
        return svc
    return req.arn("ecs", f"service/{ecs_cluster(req, req.get('cluster')).split('/')[-1]}/{svc}")


def ecs_cp(req: Req, name: str) -> str:
    return name if name.startswith("arn:") else req.arn("ecs", f"capacity-provider/{name}")


def ecs_create(arn_of, slr_role: tuple | None = None, passes: tuple = ()) -> Any:
    def handler(req: Req) -> list[Authorization]:
        out = tagged_create(f"ecs:{req.op}", arn_of(req), _tag_dict(req.get("tags")), "ecs:TagResource",
                            "ecs:CreateAction")
        for param, service in passes:
            out += pass_role(req, req.get(param), service)
        if slr_role:
            out += slr(req, *slr_role)
        return out

    return handler


def ecs_task_definition(req: Req) -> str:
    """The revision RegisterTaskDefinition will create (ecs:TagResource names it when tags are
    given); RegisterTaskDefinition itself has no resource type in the SAR and is checked on `*`."""
    family = req.get("family")
    revisions = [td.revision for td in _backend("ecs", req).task_definitions.get(family, {}).values()] \
        if hasattr(_backend("ecs", req), "task_definitions") else []
    return req.arn("ecs", f"task-definition/{family}:{max(revisions or [0]) + 1}")


def ecs_register(req: Req) -> list[Authorization]:
    tags = _tag_dict(req.get("tags"))
    out = [A("ecs:RegisterTaskDefinition", "*", req_ctx(tags))]
    if tags:
        out.append(A("ecs:TagResource", ecs_task_definition(req),
                     {**req_ctx(tags), "ecs:CreateAction": ["RegisterTaskDefinition"]}))
    out += pass_role(req, req.get("taskRoleArn"), "ecs-tasks.amazonaws.com")
    out += pass_role(req, req.get("executionRoleArn"), "ecs-tasks.amazonaws.com")
    return out


def ecs_describe_services(req: Req) -> list[Authorization]:
    cluster = ecs_cluster(req, req.get("cluster")).split("/")[-1]
    return [A("ecs:DescribeServices", s if s.startswith("arn:") else req.arn("ecs", f"service/{cluster}/{s}"))
            for s in _as_list(req.get("services"))] or star(req)


ECS = {
    "CreateCluster": ecs_create(lambda req: ecs_cluster(req, req.get("clusterName")),
                                ("ecs.amazonaws.com", "AWSServiceRoleForECS")),
    "CreateService": ecs_create(ecs_service, passes=(("role", "ecs.amazonaws.com"),)),
    "CreateCapacityProvider": ecs_create(lambda req: ecs_cp(req, req.get("name"))),
    "RegisterTaskDefinition": ecs_register,
    "DeleteCluster": existing(ecs_tags, lambda req: ecs_cluster(req, req.get("cluster"))),
    "UpdateClusterSettings": existing(ecs_tags, lambda req: ecs_cluster(req, req.get("cluster"))),
    "PutClusterCapacityProviders": existing(ecs_tags, lambda req: ecs_cluster(req, req.get("cluster"))),
    "DeleteService": existing(ecs_tags, ecs_service),
    "UpdateService": existing(ecs_tags, ecs_service),
    "DeleteCapacityProvider": existing(ecs_tags, lambda req: ecs_cp(req, req.get("capacityProvider"))),
    "UpdateCapacityProvider": existing(ecs_tags, lambda req: ecs_cp(req, req.get("name"))),
    "TagResource": tagging(ecs_tags, "resourceArn", "tags", None),
    "UntagResource": tagging(ecs_tags, "resourceArn", None, "tagKeys"),
    "DescribeClusters": lambda req: [A("ecs:DescribeClusters", ecs_cluster(req, c))
                                     for c in _as_list(req.get("clusters"))] or star(req),
    "DescribeServices": ecs_describe_services,
    **{op: star for op in ("DeregisterTaskDefinition", "DescribeTaskDefinition", "ListTaskDefinitions",
                           "DescribeCapacityProviders", "ListClusters", "ListServices", "ListTasks",
                           "DescribeTasks", "ListTagsForResource")},
}


# RDS (SAR: db, subgrp, snapshot)

def rds_tags(req: Req, arn: str) -> dict:
    return _tags_or_empty(lambda: _backend("rds", req).list_tags_for_resource(arn))


def rds_db(req: Req, name: str | None = None) -> str:
    return req.arn("rds", f"db:{name or req.get('DBInstanceIdentifier')}")


def rds_subgrp(req: Req) -> str:
    return req.arn("rds", f"subgrp:{req.get('DBSubnetGroupName')}")


def rds_delete_instance(req: Req) -> list[Authorization]:
    """DeleteDBInstance; with a final snapshot also rds:CreateDBSnapshot on the instance and the
    snapshot, and rds:AddTagsToResource on the snapshot when the instance copies its tags to
    snapshots (RDS User Guide, "Deleting a DB instance" and "Tagging": CopyTagsToSnapshot)."""
    db = rds_db(req)
    tags = rds_tags(req, db)
    out = [on("rds:DeleteDBInstance", db, tags)]
    final = req.get("FinalDBSnapshotIdentifier")
    skip = str(req.get("SkipFinalSnapshot", "false")).lower() == "true"
    if final and not skip:
        snap = req.arn("rds", f"snapshot:{final}")
        out.append(on("rds:CreateDBSnapshot", db, tags))
        out.append(A("rds:CreateDBSnapshot", snap, req_ctx({})))
        try:
            copies = _backend("rds", req).databases[req.get("DBInstanceIdentifier")].copy_tags_to_snapshot
        except Exception:
            copies = False
        if copies and tags:
            out.append(A("rds:AddTagsToResource", snap, req_ctx(tags)))
    return out


RDS = {
    "CreateDBInstance": lambda req: (tagged_create("rds:CreateDBInstance", rds_db(req), _tag_dict(req.get("Tags")),
                                                   "rds:AddTagsToResource")
                                     + slr(req, "rds.amazonaws.com", "AWSServiceRoleForRDS")),
    "CreateDBSubnetGroup": lambda req: tagged_create("rds:CreateDBSubnetGroup", rds_subgrp(req),
                                                     _tag_dict(req.get("Tags")), "rds:AddTagsToResource"),
    "DeleteDBInstance": rds_delete_instance,
    "ModifyDBInstance": existing(rds_tags, rds_db),
    "DeleteDBSubnetGroup": existing(rds_tags, rds_subgrp),
    "ModifyDBSubnetGroup": existing(rds_tags, rds_subgrp),
    "AddTagsToResource": tagging(rds_tags, "ResourceName", "Tags", None),
    "RemoveTagsFromResource": tagging(rds_tags, "ResourceName", None, "TagKeys"),
    "ListTagsForResource": existing(rds_tags, lambda req: req.get("ResourceName")),
    "DescribeDBInstances": lambda req: [A("rds:DescribeDBInstances", rds_db(req, req.get("DBInstanceIdentifier") or "*"))],
    "DescribeDBSubnetGroups": lambda req: [A("rds:DescribeDBSubnetGroups",
                                             req.arn("rds", f"subgrp:{req.get('DBSubnetGroupName') or '*'}"))],
}


# ElastiCache (SAR: replicationgroup, subnetgroup)

def ec_tags(req: Req, arn: str) -> dict:
    return _tags_or_empty(lambda: _backend("elasticache", req).list_tags_for_resource(arn))


def ec_rg(req: Req) -> str:
    return req.arn("elasticache", f"replicationgroup:{req.get('ReplicationGroupId')}")


def ec_sg(req: Req) -> str:
    return req.arn("elasticache", f"subnetgroup:{req.get('CacheSubnetGroupName')}")


ELASTICACHE = {
    "CreateReplicationGroup": lambda req: (tagged_create("elasticache:CreateReplicationGroup", ec_rg(req),
                                                         _tag_dict(req.get("Tags")), "elasticache:AddTagsToResource")
                                           + slr(req, "elasticache.amazonaws.com", "AWSServiceRoleForElastiCache")),
    "CreateCacheSubnetGroup": lambda req: tagged_create("elasticache:CreateCacheSubnetGroup", ec_sg(req),
                                                        _tag_dict(req.get("Tags")), "elasticache:AddTagsToResource"),
    **{op: existing(ec_tags, ec_rg) for op in ("DecreaseReplicaCount", "IncreaseReplicaCount",
                                               "DeleteReplicationGroup", "ModifyReplicationGroup")},
    **{op: existing(ec_tags, ec_sg) for op in ("DeleteCacheSubnetGroup", "ModifyCacheSubnetGroup")},
    "AddTagsToResource": tagging(ec_tags, "ResourceName", "Tags", None),
    "RemoveTagsFromResource": tagging(ec_tags, "ResourceName", None, "TagKeys"),
    "ListTagsForResource": existing(ec_tags, lambda req: req.get("ResourceName")),
    "DescribeReplicationGroups": star,
    "DescribeCacheSubnetGroups": star,
    "DescribeCacheClusters": star,
}


# IAM (SAR: role, instance-profile; paths are part of the ARN)

def iam_backend(req: Req) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[req.account][req.partition]


def iam_role(req: Req, name: str | None = None) -> tuple[str, dict]:
    name = name or req.get("RoleName")
    try:
        role = iam_backend(req).get_role(name)
        return role.arn, _tag_dict(role.tags)
    except Exception:
        return f"arn:aws:iam::{req.account}:role{req.get('Path') or '/'}{name}", {}


def iam_profile(req: Req) -> tuple[str, dict]:
    name = req.get("InstanceProfileName")
    try:
        ip = iam_backend(req).get_instance_profile(name)
        return ip.arn, _tag_dict(ip.tags)
    except Exception:
        return f"arn:aws:iam::{req.account}:instance-profile{req.get('Path') or '/'}{name}", {}


def iam_on(kind: str, extra=None) -> Any:
    def handler(req: Req) -> list[Authorization]:
        arn, tags = (iam_role if kind == "role" else iam_profile)(req)
        ctx = res_ctx(tags)
        if req.op.startswith("Tag"):
            ctx.update(req_ctx(_tag_dict(req.get("Tags"))))
        if req.op.startswith("Untag"):
            ctx["aws:TagKeys"] = _as_list(req.get("TagKeys"))
        out = [A(f"iam:{req.op}", arn, {**ctx, **((extra or (lambda r: {}))(req))})]
        if req.op == "AddRoleToInstanceProfile":
            # "the user needs iam:PassRole for the role added" (IAM User Guide, instance profiles)
            out += pass_role(req, iam_role(req)[0], "ec2.amazonaws.com")
        return out

    return handler


def iam_create(kind: str, tag_action: str) -> Any:
    def handler(req: Req) -> list[Authorization]:
        name = req.get("RoleName" if kind == "role" else "InstanceProfileName")
        arn = f"arn:aws:iam::{req.account}:{kind}{req.get('Path') or '/'}{name}"
        return tagged_create(f"iam:{req.op}", arn, _tag_dict(req.get("Tags")), tag_action)

    return handler


def iam_slr(req: Req) -> list[Authorization]:
    svc = req.get("AWSServiceName")
    return [A("iam:CreateServiceLinkedRole", f"arn:aws:iam::{req.account}:role/aws-service-role/{svc}/*",
              {"iam:AWSServiceName": [svc]})]


POLICY_ARN = lambda req: {"iam:PolicyARN": [req.get("PolicyArn")]}  # noqa: E731

IAM = {
    "CreateRole": iam_create("role", "iam:TagRole"),
    "CreateInstanceProfile": iam_create("instance-profile", "iam:TagInstanceProfile"),
    "AttachRolePolicy": iam_on("role", POLICY_ARN),
    "DetachRolePolicy": iam_on("role", POLICY_ARN),
    "CreateServiceLinkedRole": iam_slr,
    **{op: iam_on("role") for op in ("DeleteRole", "DeleteRolePolicy", "GetRole", "GetRolePolicy",
                                     "ListAttachedRolePolicies", "PutRolePolicy", "TagRole", "UntagRole",
                                     "UpdateAssumeRolePolicy", "ListRolePolicies", "ListRoleTags",
                                     "ListInstanceProfilesForRole")},
    **{op: iam_on("instance-profile") for op in ("AddRoleToInstanceProfile", "DeleteInstanceProfile",
                                                 "GetInstanceProfile", "RemoveRoleFromInstanceProfile",
                                                 "TagInstanceProfile", "UntagInstanceProfile")},
}


# CloudFront (SAR: distribution, origin-access-control; global, no region in the ARN)

def cf_tags(req: Req, arn: str) -> dict:
    return _tags_or_empty(lambda: _backend("cloudfront", req).list_tags_for_resource(arn))


def cf_arn(req: Req, kind: str, rid: str) -> str:
    return f"arn:aws:cloudfront::{req.account}:{kind}/{rid}"


def cf_create_distribution(req: Req) -> list[Authorization]:
    """CreateDistributionWithTags is authorized as cloudfront:CreateDistribution (SAR: no separate
    action) plus cloudfront:TagResource for the tags."""
    config = req.get("DistributionConfigWithTags") or {}
    tags = _tag_dict(((config.get("Tags") or {}).get("Items")) or [])
    return tagged_create("cloudfront:CreateDistribution", cf_arn(req, "distribution", "*"), tags,
                         "cloudfront:TagResource")


def cf_tagging(req: Req) -> list[Authorization]:
    arn = req.get("Resource")
    ctx = res_ctx(cf_tags(req, arn))
    if req.op == "TagResource":
        ctx.update(req_ctx(_tag_dict((req.get("Tags") or {}).get("Items") or [])))
    elif req.op == "UntagResource":
        ctx["aws:TagKeys"] = _as_list(((req.get("TagKeys") or {}).get("Items")) or [])
    return [A(f"cloudfront:{req.op}", arn, ctx)]


CLOUDFRONT = {
    "CreateDistributionWithTags": cf_create_distribution,
    "CreateDistribution": lambda req: [A("cloudfront:CreateDistribution", cf_arn(req, "distribution", "*"))],
    **{op: existing(cf_tags, lambda req: cf_arn(req, "distribution", req.get("Id")))
       for op in ("GetDistribution", "GetDistributionConfig", "UpdateDistribution", "DeleteDistribution")},
    "TagResource": cf_tagging,
    "UntagResource": cf_tagging,
    "ListTagsForResource": cf_tagging,
    "CreateOriginAccessControl": lambda req: [A("cloudfront:CreateOriginAccessControl",
                                                cf_arn(req, "origin-access-control", "*"))],
    **{op: lambda req: [A(f"cloudfront:{req.op}", cf_arn(req, "origin-access-control", req.get("Id")))]
       for op in ("GetOriginAccessControl", "DeleteOriginAccessControl", "GetOriginAccessControlConfig",
                  "UpdateOriginAccessControl")},
    "ListDistributions": star,
    "ListOriginAccessControls": star,
}


# Route 53 (SAR: hostedzone, change; route53:ChangeResourceRecordSets* keys)

def r53_zone(req: Req) -> str:
    return f"arn:aws:route53:::hostedzone/{(req.get('Id') or req.get('HostedZoneId')).split('/')[-1]}"


def r53_change(req: Req) -> list[Authorization]:
    """ChangeResourceRecordSets with the multivalued keys route53:ChangeResourceRecordSetsRecordTypes,
    ...Actions and ...NormalizedRecordNames (lower case, no trailing dot), from the change batch."""
    changes = _as_list(((req.get("ChangeBatch") or {}).get("Changes")))
    sets = [c.get("ResourceRecordSet") or {} for c in changes]
    ctx = {
        "route53:ChangeResourceRecordSetsRecordTypes": sorted({s.get("Type") for s in sets if s.get("Type")}),
        "route53:ChangeResourceRecordSetsActions": sorted({c.get("Action") for c in changes if c.get("Action")}),
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(
            {s.get("Name", "").lower().rstrip(".") for s in sets if s.get("Name")}),
    }
    return [A("route53:ChangeResourceRecordSets", r53_zone(req), ctx)]


ROUTE53 = {
    "ChangeResourceRecordSets": r53_change,
    "GetHostedZone": lambda req: [A("route53:GetHostedZone", r53_zone(req))],
    "ListResourceRecordSets": lambda req: [A("route53:ListResourceRecordSets", r53_zone(req))],
    "GetChange": lambda req: [A("route53:GetChange", f"arn:aws:route53:::change/{req.get('Id').split('/')[-1]}")],
    "ListHostedZones": star,
    "ListHostedZonesByName": star,
}


# CloudWatch (SAR: alarm, dashboard)

def cw_tags(req: Req, arn: str) -> dict:
    return _tags_or_empty(lambda: _backend("cloudwatch", req).list_tags_for_resource(arn))


def cw_alarm(req: Req, name: str) -> str:
    return req.arn("cloudwatch", f"alarm:{name}")


def cw_dashboard(req: Req, name: str) -> str:
    return req.arn("cloudwatch", f"dashboard/{name}", region="")


def cw_describe_alarms(req: Req) -> list[Authorization]:
    """DescribeAlarms (SAR: alarm*): each alarm named, else the alarms the prefix selects
    (`alarm:<prefix>*`), else every alarm (`alarm:*`)."""
    names = _as_list(req.get("AlarmNames"))
    if names:
        return [A("cloudwatch:DescribeAlarms", cw_alarm(req, n)) for n in names]
    return [A("cloudwatch:DescribeAlarms", cw_alarm(req, (req.get("AlarmNamePrefix") or "") + "*"))]


CLOUDWATCH = {
    "PutMetricAlarm": lambda req: tagged_create("cloudwatch:PutMetricAlarm", cw_alarm(req, req.get("AlarmName")),
                                                _tag_dict(req.get("Tags")), "cloudwatch:TagResource"),
    "PutDashboard": lambda req: tagged_create("cloudwatch:PutDashboard", cw_dashboard(req, req.get("DashboardName")),
                                              _tag_dict(req.get("Tags")), "cloudwatch:TagResource"),
    "DeleteAlarms": existing(cw_tags, lambda req: [cw_alarm(req, n) for n in _as_list(req.get("AlarmNames"))]),
    "DeleteDashboards": existing(cw_tags, lambda req: [cw_dashboard(req, n)
                                                      for n in _as_list(req.get("DashboardNames"))]),
    "GetDashboard": existing(cw_tags, lambda req: cw_dashboard(req, req.get("DashboardName"))),
    "DescribeAlarms": cw_describe_alarms,
    "ListTagsForResource": existing(cw_tags, lambda req: req.get("ResourceARN")),
    "TagResource": tagging(cw_tags, "ResourceARN", "Tags", None),
    "UntagResource": tagging(cw_tags, "ResourceARN", None, "TagKeys"),
}


# SNS (SAR: topic)

def sns_tags(req: Req, arn: str) -> dict:
    return _tags_or_empty(lambda: _backend("sns", req).list_tags_for_resource(arn))


SNS = {
    "CreateTopic": lambda req: tagged_create("sns:CreateTopic", req.arn("sns", req.get("Name")),
                                             _tag_dict(req.get("Tags")), "sns:TagResource"),
    **{op: existing(sns_tags, lambda req: req.get("TopicArn"))
       for op in ("DeleteTopic", "ListSubscriptionsByTopic", "Subscribe", "GetTopicAttributes", "Publish")},
    "Unsubscribe": existing(sns_tags, lambda req: req.get("SubscriptionArn").rsplit(":", 1)[0]),
    "ListTagsForResource": existing(sns_tags, lambda req: req.get("ResourceArn")),
    "TagResource": tagging(sns_tags, "ResourceArn", "Tags", None),
    "UntagResource": tagging(sns_tags, "ResourceArn", None, "TagKeys"),
    "ListTopics": star,
}


# ECR (SAR: repository)

def ecr_tags(req: Req, arn: str) -> dict:
    return _tags_or_empty(lambda: _backend("ecr", req).list_tags_for_resource(arn))


def ecr_repo(req: Req, name: str | None = None) -> str:
    return req.arn("ecr", f"repository/{name or req.get('repositoryName')}")


ECR = {
    "CreateRepository": lambda req: tagged_create("ecr:CreateRepository", ecr_repo(req), _tag_dict(req.get("tags")),
                                                  "ecr:TagResource"),
    **{op: existing(ecr_tags, ecr_repo) for op in ("DeleteRepository", "GetLifecyclePolicy", "ListImages",
                                                   "PutImageScanningConfiguration", "PutImageTagMutability",
                                                   "PutLifecyclePolicy", "DescribeImages")},
    "DescribeRepositories": existing(ecr_tags, lambda req: [ecr_repo(req, n) for n in
                                                           _as_list(req.get("repositoryNames"))] or ecr_repo(req, "*")),
    "ListTagsForResource": existing(ecr_tags, lambda req: req.get("resourceArn")),
    "TagResource": tagging(ecr_tags, "resourceArn", "tags", None),
    "UntagResource": tagging(ecr_tags, "resourceArn", None, "tagKeys"),
}


# Secrets Manager (SAR: secret; the ARN ends in a random suffix of 6 characters)

def sm_secret(req: Req) -> tuple[str, dict]:
    sid = req.get("SecretId")
    secret = _backend("secretsmanager", req).secrets.get(sid)
    if secret is None:
        return (sid if sid.startswith("arn:") else req.arn("secretsmanager", f"secret:{sid}-??????")), {}
    return secret.arn, _tag_dict(secret.tags)


def sm_on(req: Req) -> list[Authorization]:
    arn, tags = sm_secret(req)
    ctx = res_ctx(tags)
    if req.op == "TagResource":
        ctx.update(req_ctx(_tag_dict(req.get("Tags"))))
    if req.op == "UntagResource":
        ctx["aws:TagKeys"] = _as_list(req.get("TagKeys"))
    return [A(f"secretsmanager:{req.op}", arn, ctx)]


SECRETSMANAGER = {
    "CreateSecret": lambda req: tagged_create("secretsmanager:CreateSecret",
                                              req.arn("secretsmanager", f"secret:{req.get('Name')}-??????"),
                                              _tag_dict(req.get("Tags")), "secretsmanager:TagResource"),
    **{op: sm_on for op in ("DeleteSecret", "DescribeSecret", "GetSecretValue", "PutSecretValue", "TagResource",
                            "UntagResource", "UpdateSecret")},
}


# CloudWatch Logs (SAR: log-group)

def logs_tags(req: Req, arn: str) -> dict:
    return _tags_or_empty(lambda: _backend("logs", req).list_tags_for_resource(arn))


def logs_group(req: Req) -> str:
    return req.arn("logs", f"log-group:{req.get('logGroupName')}")


def logs_arn(req: Req) -> str:
    arn = req.get("resourceArn")
    return arn[:-2] if arn and arn.endswith(":*") else arn


LOGS = {
    "CreateLogGroup": lambda req: tagged_create("logs:CreateLogGroup", logs_group(req), _tag_dict(req.get("tags")),
                                                "logs:TagResource"),
    "DeleteLogGroup": existing(logs_tags, logs_group),
    "PutRetentionPolicy": existing(logs_tags, logs_group),
    "ListTagsForResource": existing(logs_tags, logs_arn),
    "TagResource": lambda req: [A("logs:TagResource", logs_arn(req),
                                  {**res_ctx(logs_tags(req, logs_arn(req))), **req_ctx(_tag_dict(req.get("tags")))})],
    "UntagResource": lambda req: [A("logs:UntagResource", logs_arn(req),
                                    {**res_ctx(logs_tags(req, logs_arn(req))),
                                     "aws:TagKeys": _as_list(req.get("tagKeys"))})],
    "DescribeLogGroups": star,
}


# Application Auto Scaling (SAR: scalable-target; application-autoscaling:service-namespace)

def aas(req: Req) -> list[Authorization]:
    """Scalable-target calls: the target's ARN when moto has it (`scalable-target/*` before it
    exists), with application-autoscaling:service-namespace and :scalable-dimension.
    RegisterScalableTarget also creates the service's service-linked role on first use."""
    ns, dim, rid = req.get("ServiceNamespace"), req.get("ScalableDimension"), req.get("ResourceId")
    arn = req.arn("application-autoscaling", "scalable-target/*")
    try:
        for t in _backend("applicationautoscaling", req).targets.get(dim, {}).values():
            if t.resource_id == rid and getattr(t, "arn", None):
                arn = t.arn
    except Exception:
        pass
    ctx = {"application-autoscaling:service-namespace": [ns]}
    if dim:
        ctx["application-autoscaling:scalable-dimension"] = [dim]
    tags = _tag_dict(req.get("Tags"))
    out = [A(f"application-autoscaling:{req.op}", arn, {**ctx, **(req_ctx(tags) if tags else {})})]
    if req.op == "RegisterScalableTarget":
        if tags:
            out.append(A("application-autoscaling:TagResource", arn, req_ctx(tags)))
        if ns == "ecs":
            out += slr(req, "ecs.application-autoscaling.amazonaws.com",
                       "AWSServiceRoleForApplicationAutoScaling_ECSService")
    return out


APPLICATION_AUTOSCALING = {
    **{op: aas for op in ("RegisterScalableTarget", "DeregisterScalableTarget", "PutScalingPolicy",
                          "DeleteScalingPolicy")},
    "DescribeScalableTargets": star,
    "DescribeScalingPolicies": star,
}


# SQS (SAR: queue, `arn:aws:sqs:<region>:<account>:<name>`; the drift-events queue)

def sqs_queue(req: Req) -> str:
    url = req.get("QueueUrl") or ""
    name = url.rstrip("/").rsplit("/", 1)[-1] if url else req.get("QueueName")
    return req.arn("sqs", name or "*")


def sqs_tags(req: Req, arn: str) -> dict:
    name = arn.rsplit(":", 1)[-1]
    return _tags_or_empty(lambda: _backend("sqs", req).queues[name].tags)


def sqs_create(req: Req) -> list[Authorization]:
    """CreateQueue with tags also needs sqs:TagQueue (SQS Developer Guide, "Amazon SQS API
    permissions": tagging a queue on creation)."""
    return tagged_create("sqs:CreateQueue", sqs_queue(req), _tag_dict(req.get("tags")), "sqs:TagQueue")


SQS = {
    "CreateQueue": sqs_create,
    # DeleteMessageBatch, ChangeMessageVisibilityBatch and SendMessageBatch are authorized as their
    # single-message actions (SAR: no batch actions).
    "DeleteMessageBatch": lambda req: [on("sqs:DeleteMessage", sqs_queue(req), sqs_tags(req, sqs_queue(req)))],
    **{op: existing(sqs_tags, sqs_queue) for op in ("GetQueueUrl", "GetQueueAttributes", "SetQueueAttributes",
                                                    "ReceiveMessage", "DeleteMessage", "SendMessage",
                                                    "DeleteQueue", "ListQueueTags", "UntagQueue")},
    "TagQueue": lambda req: [A("sqs:TagQueue", sqs_queue(req),
                               {**res_ctx(sqs_tags(req, sqs_queue(req))), **req_ctx(_tag_dict(req.get("Tags")))})],
    "ListQueues": star,
}


# EventBridge (SAR: rule on the default bus, `arn:aws:events:<region>:<account>:rule/<name>`)

def events_rule(req: Req) -> str:
    return req.arn("events", f"rule/{req.get('Name') or req.get('Rule')}")


def events_tags(req: Req, arn: str) -> dict:
    return _tags_or_empty(lambda: _backend("events", req).list_tags_for_resource(arn))


EVENTS = {
    # PutRule with tags also needs events:TagResource (EventBridge User Guide, "Tagging resources").
    "PutRule": lambda req: tagged_create("events:PutRule", events_rule(req), _tag_dict(req.get("Tags")),
                                         "events:TagResource"),
    **{op: existing(events_tags, events_rule) for op in ("PutTargets", "RemoveTargets", "DescribeRule",
                                                         "DeleteRule", "ListTargetsByRule")},
    "TagResource": tagging(events_tags, "ResourceARN", "Tags", None),
    "ListRules": star,
    "PutEvents": lambda req: [A("events:PutEvents", req.arn("events", "event-bus/default"))],
}
