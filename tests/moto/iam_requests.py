"""The authorizations AWS performs for one request: action, resource ARN and request context.

Used by iam_eval.py. For each operation the project's policies cover, the resources are the
resource types the Service Authorization Reference (SAR) lists for the action, the ARNs computed
from the request and moto's backends, and the context keys the SAR lists for each resource type:
aws:RequestTag/* and aws:TagKeys on the resource being created or tagged, aws:ResourceTag/* on
existing resources (their current tags in moto), and the service keys (ec2:CreateAction,
iam:PassedToService...). A resource not created yet is named with `*` for its id, as AWS's own
denial messages name it (`arn:aws:ec2:us-east-1:123456789012:security-group/*`).

Dependent actions ("Actions, resources, and condition keys": the "Dependent actions" column, and
each service's tagging-on-create rules) are separate authorizations: ec2:CreateTags with
ec2:CreateAction for TagSpecifications, ecs:TagResource with ecs:CreateAction, the tagging action
of every other service when a create call carries tags, iam:PassRole with iam:PassedToService,
iam:CreateServiceLinkedRole when the service-linked role does not exist yet.

An operation not listed here is refused (Authorization.unknown): iam_eval denies it and logs it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import xmltodict
from moto.core.parse import PROTOCOL_PARSERS
from moto.core.request import determine_request_protocol
from moto.core.responses import get_service_model

from iam_eval import Authorization, _tag_dict

# The IAM prefix of a SigV4 signing name, where they differ.
PREFIX = {"monitoring": "cloudwatch"}


class Req:
    """One request: its operation, parsed parameters (moto's protocol parsers over botocore's
    model, the same parsing the services use), region, account and partition."""

    def __init__(self, response: Any, iam_request: Any):
        self.r = response
        self.service = PREFIX.get(iam_request._service, iam_request._service)
        self.region = iam_request._region
        self.account = iam_request.account_id
        self.partition = "aws"
        self.op = self.service == "s3" and "" or (response._get_action() or "")
        self.p = {} if self.service == "s3" else self._parse()

    def _parse(self) -> dict:
        r = self.r
        request = r.normalized_request
        try:
            model = get_service_model(r.boto3_service_name)
            op = model.operation_model(self.op)
            protocol = determine_request_protocol(model, request.content_type)
            if protocol in ("rest-xml", "rest-json") and not getattr(r, "uri_match", None):
                r._get_action_from_method_and_request_uri(request)
            parser = PROTOCOL_PARSERS[protocol](op, map_type=dict)
            return dict(parser.parse({
                "method": request.method, "values": request.values, "headers": request.headers,
                "body": request.data, "url_path": request.path, "url_params": getattr(r, "uri_match", None) or {},
            }))
        except Exception:
            body = r.body if isinstance(r.body, str) else (r.body or b"").decode("utf-8", "replace")
            try:
                return json.loads(body) if body.strip().startswith("{") else _unflatten(r.querystring)
            except Exception:
                return _unflatten(r.querystring)

    def get(self, name: str, default: Any = None) -> Any:
        for k in (name, name[:1].lower() + name[1:], name[:1].upper() + name[1:]):
            if k in self.p and self.p[k] is not None:
                return self.p[k]
        return default

    def arn(self, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region is None else region}:"
                f"{self.account if account is None else account}:{resource}")


def _unflatten(qs: dict) -> dict:
    """A query-protocol form (`Tags.member.1.Key=...`) as nested values, for protocols moto has no
    parser for: `.member.N`/`.N` become list items."""
    out: dict = {}
    for key, values in qs.items():
        if key in ("Action", "Version"):
            continue
        parts = [p for p in key.split(".") if p not in ("member", "entry")]
        node = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part.isdigit():
                continue
            nxt_index = parts[i + 1] if not last else None
            if last:
                node[part] = values[0] if len(values) == 1 else values
            elif nxt_index is not None and nxt_index.isdigit():
                lst = node.setdefault(part, [])
                idx = int(nxt_index) - 1
                while len(lst) <= idx:
                    lst.append({})
                if i + 1 == len(parts) - 1:
                    lst[idx] = values[0]
                    break
                node = lst[idx]
            else:
                node = node.setdefault(part, {})
    return out


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def req_ctx(tags: dict) -> dict:
    """aws:RequestTag/<key> for each tag sent and aws:TagKeys, the set of their keys."""
    ctx = {f"aws:RequestTag/{k}": [v] for k, v in tags.items()}
    ctx["aws:TagKeys"] = list(tags)
    return ctx


def res_ctx(tags: dict) -> dict:
    """aws:ResourceTag/<key> for each tag the resource has now."""
    return {f"aws:ResourceTag/{k}": [v] for k, v in (tags or {}).items()}


def A(action: str, resource: str, ctx: dict | None = None) -> Authorization:
    return Authorization(action, resource, dict(ctx or {}))


def unknown(action: str, why: str) -> list[Authorization]:
    return [Authorization(action, "*", unknown=why)]


def slr(req: Req, service: str, role_name: str) -> list[Authorization]:
    """iam:CreateServiceLinkedRole, checked when the service creates its role on first use
    (each service's "Using service-linked roles" page), i.e. when the role does not exist."""
    from moto.iam.models import iam_backends

    backend = iam_backends[req.account][req.partition]
    if any(r.name == role_name for r in backend.roles.values()):
        return []
    arn = f"arn:aws:iam::{req.account}:role/aws-service-role/{service}/{role_name}"
    return [A("iam:CreateServiceLinkedRole", arn, {"iam:AWSServiceName": [service]})]


def pass_role(req: Req, role_arn: str | None, to_service: str) -> list[Authorization]:
    """iam:PassRole on the role passed, with iam:PassedToService ("Granting a user permissions to
    pass a role to an AWS service"). A role name is made an ARN in the caller's account."""
    if not role_arn:
        return []
    if not role_arn.startswith("arn:"):
        role_arn = f"arn:aws:iam::{req.account}:role/{role_arn}"
    return [A("iam:PassRole", role_arn, {"iam:PassedToService": [to_service]})]


def authorizations(response: Any, iam_request: Any, moto_resource: str) -> list[Authorization]:
    """The authorizations of one request (see the module docstring)."""
    req = Req(response, iam_request)
    if req.service == "s3":
        return s3_authorizations(req, moto_resource)
    handler = HANDLERS.get(req.service, {}).get(req.op)
    action = f"{req.service}:{req.op}"
    if handler is None:
        return unknown(action, f"operation {action} has no resource/context model in iam_requests")
    return handler(req)




# --- Resource tags in moto's backends ---------------------------------------------------------

def _backend(name: str, req: Req) -> Any:
    import importlib

    module = importlib.import_module(f"moto.{name}.models")
    backends = getattr(module, f"{name}_backends")
    return backends[req.account][req.region if name not in ("iam", "cloudfront", "route53") else "global"
                                 if name != "iam" else req.partition]


def _tags_or_empty(fn) -> dict:
    try:
        return _tag_dict(fn())
    except Exception:  # a resource that does not exist has no tags (AWS then answers NotFound)
        return {}


# --- EC2 ----------------------------------------------------------------------------------------

EC2_TYPES = {"vpc": "vpc", "subnet": "subnet", "igw": "internet-gateway", "rtb": "route-table",
             "sg": "security-group", "nat": "natgateway", "eipalloc": "elastic-ip", "vpce": "vpc-endpoint",
             "lt": "launch-template", "fl": "vpc-flow-log", "i": "instance", "eni": "network-interface",
             "vol": "volume", "sgr": "security-group-rule", "ami": "image"}


def ec2_arn(req: Req, rid: str) -> str:
    """`arn:aws:ec2:REGION:ACCOUNT:<type>/<id>`, the type from the id's prefix (SAR, EC2 resource
    types); images have no account."""
    kind = EC2_TYPES.get(rid.split("-")[0])
    if kind is None:
        raise ValueError(f"EC2 id {rid}: unknown resource type")
    return req.arn("ec2", f"{kind}/{rid}", account="" if kind == "image" else None)


def ec2_existing(req: Req, rid: str | None) -> list[Authorization]:
    if not rid:
        return []
    backend = _backend("ec2", req)
    return [A(f"ec2:{req.op}", ec2_arn(req, rid), res_ctx(dict(backend.tags.get(rid, {}))))]


def ec2_spec_tags(req: Req, key: str = "TagSpecifications") -> dict:
    tags: dict = {}
    for spec in _as_list(req.get(key)):
        tags.update(_tag_dict(spec.get("Tags")))
    return tags


def ec2_create(kind: str, parents=(), lists=()) -> Any:
    """An EC2 create call: the new resource (`<kind>/*`, aws:RequestTag and aws:TagKeys), the
    existing resources it is created in (aws:ResourceTag), and ec2:CreateTags with
    ec2:CreateAction when TagSpecifications are given ("Grant permission to tag Amazon EC2
    resources during creation", EC2 User Guide)."""

    def handler(req: Req) -> list[Authorization]:
        tags = ec2_spec_tags(req)
        new = req.arn("ec2", f"{kind}/*")
        out = [A(f"ec2:{req.op}", new, req_ctx(tags))]
        for p in parents:
            out += ec2_existing(req, req.get(p))
        for p in lists:
            for rid in _as_list(req.get(p)):
                out += ec2_existing(req, rid)
        if tags:
            out.append(A("ec2:CreateTags", new, {**req_ctx(tags), "ec2:CreateAction": [req.op]}))
        return out

    return handler


def ec2_on(*params: str, lists: tuple = ()) -> Any:
    """An EC2 call on existing resources named by parameters: each with aws:ResourceTag."""

    def handler(req: Req) -> list[Authorization]:
        out = []
        for p in params:
            out += ec2_existing(req, req.get(p))
        for p in lists:
            for rid in _as_list(req.get(p)):
                out += ec2_existing(req, rid)
        if not out:
            return unknown(f"ec2:{req.op}", "no resource id in the request")
        return out

    return handler


def ec2_launch_template_id(req: Req) -> str | None:
    lt_id = req.get("LaunchTemplateId")
    if lt_id:
        return lt_id
    name = req.get("LaunchTemplateName")
    backend = _backend("ec2", req)
    for lt in getattr(backend, "launch_templates", {}).values():
        if lt.name == name:
            return lt.id
    return None


def ec2_create_flow_logs(req: Req) -> list[Authorization]:
    out = ec2_create("vpc-flow-log", lists=("ResourceIds",))(req)
    out += pass_role(req, req.get("DeliverLogsPermissionArn"), "vpc-flow-logs.amazonaws.com")
    return out


def ec2_tags_call(req: Req) -> list[Authorization]:
    """ec2:CreateTags / ec2:DeleteTags on each resource: its tags, the tags sent (CreateTags) or
    the keys removed (DeleteTags: aws:TagKeys); no ec2:CreateAction outside a create call."""
    tags = _tag_dict(req.get("Tags"))
    out = []
    for rid in _as_list(req.get("Resources")):
        ctx = res_ctx(dict(_backend("ec2", req).tags.get(rid, {})))
        if req.op == "CreateTags":
            ctx.update(req_ctx(tags))
        else:
            ctx["aws:TagKeys"] = [t.get("Key") for t in _as_list(req.get("Tags"))]
        out.append(A(f"ec2:{req.op}", ec2_arn(req, rid), ctx))
    return out


def ec2_disassociate(req: Req) -> list[Authorization]:
    """DisassociateRouteTable names an association: its route table and subnet (SAR)."""
    assoc = req.get("AssociationId")
    for rt in _backend("ec2", req).route_tables.values():
        assocs = getattr(rt, "_associations", None) or {}
        if assoc in assocs:
            out = ec2_existing(req, rt.id)
            sub = assocs[assoc]
            if isinstance(sub, str) and sub.startswith("subnet-"):
                out += ec2_existing(req, sub)
            return out
    return unknown("ec2:DisassociateRouteTable", f"association {assoc} not found")


def ec2_launch_template_on(req: Req) -> list[Authorization]:
    lt = ec2_launch_template_id(req)
    return ec2_existing(req, lt) if lt else unknown(f"ec2:{req.op}", "launch template not found")


def ec2_read(req: Req) -> list[Authorization]:
    """Describe* calls: no resource types in the SAR, authorized against `*`."""
    return [A(f"ec2:{req.op}", "*")]


EC2 = {
    "CreateVpc": ec2_create("vpc"),
    "CreateSubnet": ec2_create("subnet", parents=("VpcId",)),
    "CreateInternetGateway": ec2_create("internet-gateway"),
    "CreateRouteTable": ec2_create("route-table", parents=("VpcId",)),
    "CreateSecurityGroup": ec2_create("security-group", parents=("VpcId",)),
    "CreateNatGateway": ec2_create("natgateway", parents=("SubnetId", "AllocationId")),
    "AllocateAddress": ec2_create("elastic-ip"),
    "CreateVpcEndpoint": ec2_create("vpc-endpoint", parents=("VpcId",),
                                    lists=("RouteTableIds", "SubnetIds", "SecurityGroupIds")),
    "CreateLaunchTemplate": ec2_create("launch-template"),
    "CreateFlowLogs": ec2_create_flow_logs,
    "CreateTags": ec2_tags_call,
    "DeleteTags": ec2_tags_call,
    "AssociateRouteTable": ec2_on("RouteTableId", "SubnetId", "GatewayId"),
    "DisassociateRouteTable": ec2_disassociate,
    "AttachInternetGateway": ec2_on("InternetGatewayId", "VpcId"),
    "DetachInternetGateway": ec2_on("InternetGatewayId", "VpcId"),
    "AuthorizeSecurityGroupIngress": ec2_on("GroupId"),
    "RevokeSecurityGroupIngress": ec2_on("GroupId", lists=("SecurityGroupRuleIds",)),
    "CreateLaunchTemplateVersion": ec2_launch_template_on,
    "DeleteLaunchTemplate": ec2_launch_template_on,
    "CreateRoute": ec2_on("RouteTableId"),
    "DeleteRoute": ec2_on("RouteTableId"),
    "ReplaceRoute": ec2_on("RouteTableId"),
    "DeleteFlowLogs": ec2_on(lists=("FlowLogIds",)),
    "DeleteInternetGateway": ec2_on("InternetGatewayId"),
    "DeleteNatGateway": ec2_on("NatGatewayId"),
    "DeleteRouteTable": ec2_on("RouteTableId"),
    "DeleteSecurityGroup": ec2_on("GroupId"),
    "DeleteSubnet": ec2_on("SubnetId"),
    "DeleteVpc": ec2_on("VpcId"),
    "DeleteVpcEndpoints": ec2_on(lists=("VpcEndpointIds",)),
    "ModifyVpcEndpoint": ec2_on("VpcEndpointId", lists=("AddRouteTableIds", "RemoveRouteTableIds", "AddSubnetIds",
                                                        "RemoveSubnetIds", "AddSecurityGroupIds",
                                                        "RemoveSecurityGroupIds")),
    "ReleaseAddress": ec2_on("AllocationId"),
    **{op: ec2_read for op in (
        "DescribeAddresses", "DescribeAvailabilityZones", "DescribeFlowLogs", "DescribeInternetGateways",
        "DescribeLaunchTemplateVersions", "DescribeLaunchTemplates", "DescribeNatGateways", "DescribeRouteTables",
        "DescribeSecurityGroups", "DescribeSubnets", "DescribeVpcEndpoints", "DescribeVpcs", "DescribeTags",
        "DescribeImages", "DescribeInstances", "DescribeNetworkInterfaces")},
}


def run_instances_of_template(req: Req, lt_spec: dict, subnets: list[str]) -> list[Authorization]:
    """The RunInstances check an Auto Scaling group makes with the caller's permissions when it
    uses a launch template ("Control Amazon EC2 launch template usage in Auto Scaling": the caller
    needs ec2:RunInstances, iam:PassRole for the template's instance profile role, and
    ec2:CreateTags when the template tags instances). Resources per the SAR for RunInstances:
    the launch template (aws:ResourceTag), the image, subnets, security groups, and the new
    instance, volume and network interface; each with ec2:LaunchTemplate."""
    backend = _backend("ec2", req)
    lt_id = lt_spec.get("LaunchTemplateId")
    if not lt_id and lt_spec.get("LaunchTemplateName"):
        lt_id = next((t.id for t in backend.launch_templates.values() if t.name == lt_spec["LaunchTemplateName"]), None)
    if not lt_id or lt_id not in backend.launch_templates:
        return unknown("ec2:RunInstances", "launch template of the group not found")
    lt = backend.launch_templates[lt_id]
    version = lt_spec.get("Version") or "$Default"
    ver = lt.latest_version() if version == "$Latest" else (
        lt.default_version() if version == "$Default" else lt.get_version(version))
    data = ver.data or {}
    lt_arn = ec2_arn(req, lt_id)
    key = {"ec2:LaunchTemplate": [lt_arn]}
    out = [A("ec2:RunInstances", lt_arn, {**res_ctx(dict(backend.tags.get(lt_id, {}))), **key})]
    if data.get("ImageId"):
        out.append(A("ec2:RunInstances", ec2_arn(req, data["ImageId"]), key))
    for sg in _as_list(data.get("SecurityGroupId")) + _as_list(data.get("SecurityGroupIds")):
        out.append(A("ec2:RunInstances", ec2_arn(req, sg), {**res_ctx(dict(backend.tags.get(sg, {}))), **key}))
    for sub in subnets:
        out.append(A("ec2:RunInstances", ec2_arn(req, sub), {**res_ctx(dict(backend.tags.get(sub, {}))), **key}))
    inst_tags: dict = {}
    for spec in _as_list(data.get("TagSpecification")) + _as_list(data.get("TagSpecifications")):
        inst_tags.update(_tag_dict(spec.get("Tag") or spec.get("Tags")))
    for kind in ("instance", "volume", "network-interface"):
        out.append(A("ec2:RunInstances", req.arn("ec2", f"{kind}/*"), {**req_ctx(inst_tags), **key}))
        if inst_tags and kind != "network-interface":
            out.append(A("ec2:CreateTags", req.arn("ec2", f"{kind}/*"),
                         {**req_ctx(inst_tags), "ec2:CreateAction": ["RunInstances"]}))
    profile = data.get("IamInstanceProfile") or {}
    name = profile.get("Name") or (profile.get("Arn") or "").split("/")[-1]
    if name:
        try:
            ip = _backend("iam", req).get_instance_profile(name)
            for role in ip.roles:
                out += pass_role(req, role.arn, "ec2.amazonaws.com")
        except Exception:
            return unknown("iam:PassRole", f"instance profile {name} of the launch template not found")
    return out


from iam_requests_services import (  # noqa: E402  (the helpers above are defined by now)
    APPLICATION_AUTOSCALING, CLOUDFRONT, CLOUDWATCH, ECR, ECS, ELASTICACHE, ELBV2, EVENTS, IAM, LOGS, RDS,
    ROUTE53, SECRETSMANAGER, SNS, SQS, on, star, tagged_create,
)


# EC2 Auto Scaling (SAR: autoScalingGroup)

def asg_group(req: Req, name: str) -> tuple[str, dict]:
    group = _backend("autoscaling", req).autoscaling_groups.get(name)
    if group is None:
        return req.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{name}"), {}
    return group.arn, {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in group.tags or []}


def asg_tags(req: Req) -> dict:
    return {t.get("Key"): t.get("Value") for t in _as_list(req.get("Tags"))}


def asg_create_or_update(req: Req) -> list[Authorization]:
    name = req.get("AutoScalingGroupName")
    arn, tags = asg_group(req, name)
    lt = req.get("LaunchTemplate") or ((req.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}).get(
        "LaunchTemplateSpecification")
    subnets = [s.strip() for s in (req.get("VPCZoneIdentifier") or "").split(",") if s.strip()]
    if req.op == "CreateAutoScalingGroup":
        out = tagged_create("autoscaling:CreateAutoScalingGroup", arn, asg_tags(req), "autoscaling:CreateOrUpdateTags")
        out += slr(req, "autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling")
    else:
        out = [on("autoscaling:UpdateAutoScalingGroup", arn, tags)]
        if not subnets:
            group = _backend("autoscaling", req).autoscaling_groups.get(name)
            subnets = [s for s in (getattr(group, "vpc_zone_identifier", "") or "").split(",") if s] if group else []
    if lt:
        out += run_instances_of_template(req, lt, subnets)
    return out


def asg_tagging(req: Req) -> list[Authorization]:
    out = []
    for t in _as_list(req.get("Tags")):
        arn, tags = asg_group(req, t.get("ResourceId"))
        ctx = res_ctx(tags)
        if req.op == "CreateOrUpdateTags":
            ctx.update(req_ctx({t.get("Key"): t.get("Value")}))
        else:
            ctx["aws:TagKeys"] = [t.get("Key")]
        out.append(A(f"autoscaling:{req.op}", arn, ctx))
    return out


AUTOSCALING = {
    "CreateAutoScalingGroup": asg_create_or_update,
    "UpdateAutoScalingGroup": asg_create_or_update,
    "DeleteAutoScalingGroup": lambda req: [on("autoscaling:DeleteAutoScalingGroup",
                                              *asg_group(req, req.get("AutoScalingGroupName")))],
    "CreateOrUpdateTags": asg_tagging,
    "DeleteTags": asg_tagging,
    "DescribeAutoScalingGroups": star,
}


# SSM (SAR: parameter; AWS's public parameters have no account in their ARN)

def ssm_param(req: Req) -> list[Authorization]:
    name = req.get("Name")
    account = "" if name.startswith("/aws/service/") else None
    return [A(f"ssm:{req.op}", req.arn("ssm", f"parameter/{name.lstrip('/')}", account=account))]


SSM = {"GetParameter": ssm_param, "GetParameters": ssm_param}


# STS (SAR: role; sts:TagSession for session tags)

def sts_assume(req: Req) -> list[Authorization]:
    tags = _tag_dict(req.get("Tags"))
    role = req.get("RoleArn")
    out = [A(f"sts:{req.op}", role, req_ctx(tags))]
    if tags:
        out.append(A("sts:TagSession", role, req_ctx(tags)))
    return out


STS = {"AssumeRole": sts_assume, "GetCallerIdentity": star}


HANDLERS = {
    "ec2": EC2, "elasticloadbalancing": ELBV2, "ecs": ECS, "rds": RDS, "elasticache": ELASTICACHE, "iam": IAM,
    "cloudfront": CLOUDFRONT, "route53": ROUTE53, "cloudwatch": CLOUDWATCH, "sns": SNS, "ecr": ECR,
    "secretsmanager": SECRETSMANAGER, "logs": LOGS, "application-autoscaling": APPLICATION_AUTOSCALING,
    "autoscaling": AUTOSCALING, "ssm": SSM, "sts": STS, "sqs": SQS, "events": EVENTS,
}


# S3 (SAR: bucket, object; IAM action names differ from the API's)

# (method, sub-resource in the query string) → IAM action, from "Amazon S3 API operations and the
# permissions they require" (S3 User Guide) and the SAR.
S3_BUCKET_ACTIONS = {
    ("GET", "tagging"): "s3:GetBucketTagging", ("PUT", "tagging"): "s3:PutBucketTagging",
    ("DELETE", "tagging"): "s3:PutBucketTagging",
    ("GET", "encryption"): "s3:GetEncryptionConfiguration", ("PUT", "encryption"): "s3:PutEncryptionConfiguration",
    ("DELETE", "encryption"): "s3:PutEncryptionConfiguration",
    ("GET", "ownershipControls"): "s3:GetBucketOwnershipControls",
    ("PUT", "ownershipControls"): "s3:PutBucketOwnershipControls",
    ("DELETE", "ownershipControls"): "s3:PutBucketOwnershipControls",
    ("GET", "policy"): "s3:GetBucketPolicy", ("PUT", "policy"): "s3:PutBucketPolicy",
    ("DELETE", "policy"): "s3:DeleteBucketPolicy",
    ("GET", "publicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("PUT", "publicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("DELETE", "publicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("GET", "versions"): "s3:ListBucketVersions", ("GET", "location"): "s3:GetBucketLocation",
    ("GET", "versioning"): "s3:GetBucketVersioning", ("PUT", "versioning"): "s3:PutBucketVersioning",
    ("GET", "acl"): "s3:GetBucketAcl", ("PUT", "acl"): "s3:PutBucketAcl",
    ("GET", "website"): "s3:GetBucketWebsite", ("PUT", "website"): "s3:PutBucketWebsite",
    ("GET", "cors"): "s3:GetBucketCORS", ("PUT", "cors"): "s3:PutBucketCORS",
    ("GET", "lifecycle"): "s3:GetLifecycleConfiguration", ("PUT", "lifecycle"): "s3:PutLifecycleConfiguration",
    ("GET", ""): "s3:ListBucket", ("HEAD", ""): "s3:ListBucket", ("DELETE", ""): "s3:DeleteBucket",
    ("PUT", ""): "s3:CreateBucket",
}
S3_OBJECT_ACTIONS = {("GET", ""): "s3:GetObject", ("HEAD", ""): "s3:GetObject", ("PUT", ""): "s3:PutObject",
                     ("DELETE", ""): "s3:DeleteObject", ("GET", "tagging"): "s3:GetObjectTagging",
                     ("PUT", "tagging"): "s3:PutObjectTagging"}


def s3_bucket_tags(req: Req, bucket: str) -> dict:
    return _tags_or_empty(lambda: _backend("s3", req).get_bucket_tagging(bucket))


def s3_authorizations(req: Req, moto_resource: str) -> list[Authorization]:
    """S3: moto passes `arn:aws:s3:::bucket[/key]`; the IAM action comes from the method and the
    sub-resource (moto's ACTION_MAP names several calls after moto's own defaults). Bucket tags:
    aws:ResourceTag on buckets, aws:RequestTag for CreateBucketConfiguration.Tags and
    PutBucketTagging. DeleteObjects checks s3:DeleteObject per key, s3:DeleteObjectVersion for
    keys with a version id."""
    r = req.r
    method = r.method.upper()
    query = {k for k in (r.querystring or {})}
    path = moto_resource.split(":::", 1)[1] if ":::" in moto_resource else "*"
    bucket, _, key = path.partition("/")
    if bucket == "*":
        return [A("s3:ListAllMyBuckets", "*")]
    barn = f"arn:aws:s3:::{bucket}"
    if method == "POST" and "delete" in query:
        body = r.body if isinstance(r.body, (str, bytes)) else b""
        doc = xmltodict.parse(body, force_list={"Object": True}).get("Delete") or {}
        out = []
        for obj in doc.get("Object") or []:
            out.append(A("s3:DeleteObjectVersion" if obj.get("VersionId") else "s3:DeleteObject",
                         f"{barn}/{obj.get('Key')}"))
        return out or [A("s3:DeleteObject", f"{barn}/*")]
    table = S3_OBJECT_ACTIONS if key else S3_BUCKET_ACTIONS
    sub = next((s for m, s in table if m == method and s and s in query), "")
    action = table.get((method, sub))
    if key and method == "DELETE" and "versionId" in query:
        action = "s3:DeleteObjectVersion"
    if key and method == "GET" and "versionId" in query and not sub:
        action = "s3:GetObjectVersion"
    if action is None:
        return unknown(f"s3:{method} {sorted(query)}", "S3 sub-resource without an IAM action in iam_requests")
    if key:
        return [A(action, f"{barn}/{key}")]
    tags = s3_bucket_tags(req, bucket)
    ctx = res_ctx(tags)
    if action == "s3:CreateBucket":
        body = r.body.decode() if isinstance(r.body, bytes) else (r.body or "")
        try:
            conf = xmltodict.parse(body, force_list={"Tag": True}).get("CreateBucketConfiguration") or {} if body else {}
        except Exception:
            conf = {}
        new_tags = {t["Key"]: t.get("Value") or "" for t in ((conf.get("Tags") or {}).get("Tag") or [])}
        return tagged_create("s3:CreateBucket", barn, new_tags, "s3:TagResource")
    if action == "s3:PutBucketTagging" and method == "PUT":
        body = r.body.decode() if isinstance(r.body, bytes) else (r.body or "")
        doc = xmltodict.parse(body, force_list={"Tag": True}).get("Tagging") or {}
        ctx.update(req_ctx({t["Key"]: t.get("Value") or "" for t in ((doc.get("TagSet") or {}).get("Tag") or [])}))
    return [A(action, barn, ctx)]
