"""Checks iam_eval.py against the project's policies with boto3 (no cargo).

Run with the emulator's venv: /root/.cache/webstack-operator/moto-5.2.5/bin/python check_iam_eval.py
It starts tests/moto/server.py on a free port, creates an admin user (Action * Resource *) and an
operator user with the unmodified deploy/iam-policy.json (WEBSTACK_CLUSTER_ID replaced by the
cluster id), enables enforcement (POST /moto-api/reset-auth "0") and, as the operator, runs a
create → tag → modify → delete sequence per service the way the operator does (the ownership tags
of src/model/ownership.rs on every create), asserting each call is allowed; then asserts denials
(another cluster's resources, creates without the cluster tag, PassRole of a foreign role), and
the tenant role policy (deploy/tenant-role-policy.json) for two namespaces. Last, a coverage
table: every operation of deploy/iam-operations.txt and whether iam_requests models it.
Exit status 0 when every expectation holds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLUSTER = "eu-1"
OTHER = "us-9"
REGION = "us-east-1"
FAILURES: list[str] = []
GAPS: list[str] = []
DENIAL_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ownership(kind: str, name: str, cluster: str = CLUSTER, namespace: str = "shop", component: str = "x") -> dict:
    """The tags of src/model/ownership.rs Owner::tags."""
    return {"Name": name, "webstack.io/managed-by": "webstack-operator", "webstack.io/cluster": cluster,
            "webstack.io/owner": f"{namespace}/{kind}/{name}", "webstack.io/uid": f"uid-{name}",
            "webstack.io/component": component}


def kv(tags: dict, k: str = "Key", v: str = "Value") -> list:
    return [{k: a, v: b} for a, b in tags.items()]


def allowed(label: str, fn):
    """The call passes IAM: it succeeds, or fails with a service error that is not a denial (a
    dependency the emulator reports, printed `ok*`)."""
    _exercised(label)
    try:
        result = fn()
        print(f"  ok      {label}")
        return result
    except ClientError as e:
        code = e.response["Error"]["Code"]
        if code in DENIAL_CODES:
            FAILURES.append(f"{label}: expected allowed, got {code}: {e.response['Error'].get('Message')}")
            print(f"  FAIL    {label}: {code} {e.response['Error'].get('Message')}")
        else:
            print(f"  ok*     {label} (not an IAM denial: {code})")
        return None
    except Exception as e:  # the emulator failed after authorization (HTTP 500 of a moto gap)
        print(f"  ok*     {label} (emulator error after authorization: {type(e).__name__})")
        return None


def denied(label: str, fn, code: str | None = None):
    _exercised(label)
    try:
        fn()
        FAILURES.append(f"{label}: expected denied, was allowed")
        print(f"  FAIL    {label}: allowed")
    except ClientError as e:
        got = e.response["Error"]["Code"]
        if got in DENIAL_CODES and (code is None or got == code):
            print(f"  denied  {label} ({got})")
        else:
            FAILURES.append(f"{label}: expected {code or 'a denial'}, got {got}: {e.response['Error'].get('Message')}")
            print(f"  FAIL    {label}: {got} {e.response['Error'].get('Message')}")


class Env:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        cfg = Config(retries={"max_attempts": 1})
        self.cfg = cfg

    def client(self, service: str, creds: dict):
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint, config=self.cfg, **creds)


def start_server() -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"iam_eval_check_{port}.log"
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "server.py", "-H", "127.0.0.1", "-p", str(port)], cwd=HERE,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=1)
            return proc, endpoint, log
        except Exception:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"moto_server did not start; see {log}")


def make_user(iam, name: str, policy: dict) -> dict:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def operator_policy(cluster: str) -> dict:
    text = (ROOT / "deploy/iam-policy.json").read_text().replace("WEBSTACK_CLUSTER_ID", cluster)
    return json.loads(text)


def ts(kind: str, tags: dict) -> list:
    return [{"ResourceType": kind, "Tags": kv(tags)}]


def operator_sequence(env: Env, op: dict, admin: dict) -> None:
    """Create → tag → modify → delete per service, as the operator calls them (src/aws/*.rs)."""
    T = lambda name, kind="WebStack": ownership(kind, name)  # noqa: E731
    ec2 = env.client("ec2", op)
    print("EC2")
    vpc = allowed("CreateVpc", lambda: ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=ts("vpc", T("vpc"))))
    vpc_id = vpc["Vpc"]["VpcId"]
    subnets = []
    for i, az in enumerate(["us-east-1a", "us-east-1b"]):
        r = allowed(f"CreateSubnet {az}", lambda: ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=az, TagSpecifications=ts("subnet", T(f"sub{i}"))))
        subnets.append(r["Subnet"]["SubnetId"])
    igw = allowed("CreateInternetGateway", lambda: ec2.create_internet_gateway(
        TagSpecifications=ts("internet-gateway", T("igw"))))["InternetGateway"]["InternetGatewayId"]
    allowed("AttachInternetGateway", lambda: ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id))
    rtb = allowed("CreateRouteTable", lambda: ec2.create_route_table(
        VpcId=vpc_id, TagSpecifications=ts("route-table", T("rtb"))))["RouteTable"]["RouteTableId"]
    allowed("CreateRoute", lambda: ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw))
    allowed("ReplaceRoute", lambda: ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw))
    assoc = allowed("AssociateRouteTable", lambda: ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnets[0]))
    sg = allowed("CreateSecurityGroup", lambda: ec2.create_security_group(
        GroupName="ws-sg", Description="d", VpcId=vpc_id, TagSpecifications=ts("security-group", T("sg"))))["GroupId"]
    perm = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    allowed("AuthorizeSecurityGroupIngress", lambda: ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=perm))
    allowed("RevokeSecurityGroupIngress", lambda: ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=perm))
    eip = allowed("AllocateAddress", lambda: ec2.allocate_address(
        Domain="vpc", TagSpecifications=ts("elastic-ip", T("eip"))))["AllocationId"]
    nat = allowed("CreateNatGateway", lambda: ec2.create_nat_gateway(
        SubnetId=subnets[0], AllocationId=eip, TagSpecifications=ts("natgateway", T("nat"))))["NatGateway"]["NatGatewayId"]
    vpce = allowed("CreateVpcEndpoint", lambda: ec2.create_vpc_endpoint(
        VpcId=vpc_id, ServiceName="com.amazonaws.us-east-1.s3", RouteTableIds=[rtb],
        TagSpecifications=ts("vpc-endpoint", T("vpce"))))["VpcEndpoint"]["VpcEndpointId"]
    allowed("ModifyVpcEndpoint", lambda: ec2.modify_vpc_endpoint(VpcEndpointId=vpce, ResetPolicy=True))
    allowed("CreateTags (owned vpc)", lambda: ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "extra", "Value": "1"}]))
    allowed("DeleteTags (owned vpc)", lambda: ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": "extra"}]))
    for d in ("describe_vpcs", "describe_subnets", "describe_security_groups", "describe_route_tables",
              "describe_internet_gateways", "describe_nat_gateways", "describe_addresses", "describe_vpc_endpoints",
              "describe_availability_zones", "describe_flow_logs", "describe_launch_templates"):
        allowed(d, getattr(ec2, d))
    state = {"ec2": ec2, "vpc": vpc_id, "subnets": subnets, "igw": igw, "rtb": rtb, "assoc": assoc, "sg": sg,
             "eip": eip, "nat": nat, "vpce": vpce}
    return state


def run_rest(env: Env, op: dict, admin: dict, st: dict) -> None:
    """Every other service of the policy, then the deletions (EC2 last), then the denials."""
    T = lambda name, kind="WebStack": ownership(kind, name)  # noqa: E731
    acct = "123456789012"
    ec2, vpc_id, subnets, sg = st["ec2"], st["vpc"], st["subnets"], st["sg"]

    print("IAM")
    iam = env.client("iam", op)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                               "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]})
    role_arn = allowed("CreateRole", lambda: iam.create_role(RoleName="webstack-shop-exec", AssumeRolePolicyDocument=trust,
                                                             Tags=kv(T("exec"))))["Role"]["Arn"]
    allowed("GetRole", lambda: iam.get_role(RoleName="webstack-shop-exec"))
    allowed("PutRolePolicy", lambda: iam.put_role_policy(RoleName="webstack-shop-exec", PolicyName="p",
                                                         PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                                             {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]})))
    allowed("GetRolePolicy", lambda: iam.get_role_policy(RoleName="webstack-shop-exec", PolicyName="p"))
    allowed("AttachRolePolicy (ECS instance policy)", lambda: iam.attach_role_policy(
        RoleName="webstack-shop-exec", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"))
    allowed("ListAttachedRolePolicies", lambda: iam.list_attached_role_policies(RoleName="webstack-shop-exec"))
    allowed("TagRole", lambda: iam.tag_role(RoleName="webstack-shop-exec", Tags=[{"Key": "webstack.io/cluster", "Value": CLUSTER}]))
    allowed("UntagRole", lambda: iam.untag_role(RoleName="webstack-shop-exec", TagKeys=["Name"]))
    allowed("UpdateAssumeRolePolicy", lambda: iam.update_assume_role_policy(RoleName="webstack-shop-exec", PolicyDocument=trust))
    allowed("CreateInstanceProfile", lambda: iam.create_instance_profile(InstanceProfileName="webstack-shop-ip",
                                                                         Tags=kv(T("ip"))))
    allowed("AddRoleToInstanceProfile", lambda: iam.add_role_to_instance_profile(
        InstanceProfileName="webstack-shop-ip", RoleName="webstack-shop-exec"))
    allowed("GetInstanceProfile", lambda: iam.get_instance_profile(InstanceProfileName="webstack-shop-ip"))
    allowed("TagInstanceProfile", lambda: iam.tag_instance_profile(InstanceProfileName="webstack-shop-ip", Tags=[{"Key": "a", "Value": "b"}]))
    allowed("UntagInstanceProfile", lambda: iam.untag_instance_profile(InstanceProfileName="webstack-shop-ip", TagKeys=["a"]))
    denied("AttachRolePolicy AdministratorAccess", lambda: iam.attach_role_policy(
        RoleName="webstack-shop-exec", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"))
    denied("CreateRole not webstack-*", lambda: iam.create_role(RoleName="other-role", AssumeRolePolicyDocument=trust,
                                                                 Tags=kv(T("x"))))
    denied("CreateRole without cluster tag", lambda: iam.create_role(RoleName="webstack-untagged", AssumeRolePolicyDocument=trust))

    print("EC2 flow logs and launch templates")
    allowed("CreateFlowLogs", lambda: ec2.create_flow_logs(
        ResourceIds=[vpc_id], ResourceType="VPC", TrafficType="ALL", LogDestinationType="cloud-watch-logs",
        LogGroupName="/webstack/flow", DeliverLogsPermissionArn=role_arn, TagSpecifications=ts("vpc-flow-log", T("fl"))))
    lt = allowed("CreateLaunchTemplate", lambda: ec2.create_launch_template(
        LaunchTemplateName="webstack-shop-lt", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.small",
                                                                   "IamInstanceProfile": {"Name": "webstack-shop-ip"},
                                                                   "SecurityGroupIds": [sg]},
        TagSpecifications=ts("launch-template", T("lt"))))["LaunchTemplate"]["LaunchTemplateId"]
    allowed("CreateLaunchTemplateVersion", lambda: ec2.create_launch_template_version(
        LaunchTemplateId=lt, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.small",
                                                 "IamInstanceProfile": {"Name": "webstack-shop-ip"}, "SecurityGroupIds": [sg]}))
    allowed("DescribeLaunchTemplateVersions", lambda: ec2.describe_launch_template_versions(LaunchTemplateId=lt))

    print("Auto Scaling")
    asg = env.client("autoscaling", op)
    asg_tags = [{"Key": k, "Value": v, "PropagateAtLaunch": True, "ResourceId": "webstack-shop-asg",
                 "ResourceType": "auto-scaling-group"} for k, v in T("asg").items()]
    allowed("CreateAutoScalingGroup", lambda: asg.create_auto_scaling_group(
        AutoScalingGroupName="webstack-shop-asg", MinSize=0, MaxSize=2, DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"}, VPCZoneIdentifier=",".join(subnets), Tags=asg_tags))
    allowed("UpdateAutoScalingGroup", lambda: asg.update_auto_scaling_group(AutoScalingGroupName="webstack-shop-asg", MaxSize=3))
    allowed("CreateOrUpdateTags", lambda: asg.create_or_update_tags(Tags=[{**asg_tags[0], "Key": "extra"}]))
    allowed("DeleteTags", lambda: asg.delete_tags(Tags=[{**asg_tags[0], "Key": "extra"}]))
    allowed("DescribeAutoScalingGroups", asg.describe_auto_scaling_groups)

    print("Elastic Load Balancing v2")
    elb = env.client("elbv2", op)
    lb = allowed("CreateLoadBalancer", lambda: elb.create_load_balancer(
        Name="ws-shop", Subnets=subnets, SecurityGroups=[sg], Tags=kv(T("lb"))))["LoadBalancers"][0]["LoadBalancerArn"]
    tg = allowed("CreateTargetGroup", lambda: elb.create_target_group(
        Name="ws-shop-web", Protocol="HTTP", Port=80, VpcId=vpc_id, TargetType="ip", Tags=kv(T("tg"))))["TargetGroups"][0]["TargetGroupArn"]
    fwd = [{"Type": "forward", "TargetGroupArn": tg}]
    lis = allowed("CreateListener", lambda: elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                                                                DefaultActions=fwd, Tags=kv(T("lis"))))["Listeners"][0]["ListenerArn"]
    rule = allowed("CreateRule", lambda: elb.create_rule(ListenerArn=lis, Priority=10, Actions=fwd, Tags=kv(T("rule")),
                                                         Conditions=[{"Field": "path-pattern", "Values": ["/a/*"]}]))["Rules"][0]["RuleArn"]
    allowed("AddTags (owned)", lambda: elb.add_tags(ResourceArns=[lb], Tags=[{"Key": "extra", "Value": "1"}]))
    allowed("RemoveTags (owned)", lambda: elb.remove_tags(ResourceArns=[lb], TagKeys=["extra"]))
    allowed("ModifyLoadBalancerAttributes", lambda: elb.modify_load_balancer_attributes(
        LoadBalancerArn=lb, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "30"}]))
    allowed("ModifyTargetGroup", lambda: elb.modify_target_group(TargetGroupArn=tg, HealthCheckPath="/health"))
    allowed("ModifyTargetGroupAttributes", lambda: elb.modify_target_group_attributes(
        TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "10"}]))
    allowed("ModifyListener", lambda: elb.modify_listener(ListenerArn=lis, DefaultActions=fwd))
    allowed("ModifyRule", lambda: elb.modify_rule(RuleArn=rule, Actions=fwd))
    allowed("SetRulePriorities", lambda: elb.set_rule_priorities(RulePriorities=[{"RuleArn": rule, "Priority": 11}]))
    allowed("SetSecurityGroups", lambda: elb.set_security_groups(LoadBalancerArn=lb, SecurityGroups=[sg]))
    for d, kw in (("describe_load_balancers", {}), ("describe_target_groups", {}), ("describe_listeners", {"LoadBalancerArn": lb}),
                  ("describe_rules", {"ListenerArn": lis}), ("describe_tags", {"ResourceArns": [lb]}),
                  ("describe_load_balancer_attributes", {"LoadBalancerArn": lb}),
                  ("describe_target_group_attributes", {"TargetGroupArn": tg})):
        allowed(d, lambda: getattr(elb, d)(**kw))
    denied("CreateLoadBalancer without cluster tag", lambda: elb.create_load_balancer(
        Name="ws-untagged", Subnets=subnets, SecurityGroups=[sg], Tags=[{"Key": "Name", "Value": "x"}]))

    print("ECS")
    ecs = env.client("ecs", op)
    etags = lambda name: kv(T(name), "key", "value")  # noqa: E731
    cluster = allowed("CreateCluster", lambda: ecs.create_cluster(clusterName="ws-shop", tags=etags("cluster")))["cluster"]["clusterArn"]
    allowed("UpdateClusterSettings", lambda: ecs.update_cluster_settings(cluster="ws-shop", settings=[{"name": "containerInsights", "value": "enabled"}]))
    allowed("CreateCapacityProvider", lambda: ecs.create_capacity_provider(
        name="ws-shop-cp", autoScalingGroupProvider={"autoScalingGroupArn": f"arn:aws:autoscaling:{REGION}:{acct}:autoScalingGroup:x:autoScalingGroupName/webstack-shop-asg"},
        tags=etags("cp")))
    allowed("UpdateCapacityProvider", lambda: ecs.update_capacity_provider(name="ws-shop-cp", autoScalingGroupProvider={"managedTerminationProtection": "DISABLED"}))
    allowed("PutClusterCapacityProviders", lambda: ecs.put_cluster_capacity_providers(
        cluster="ws-shop", capacityProviders=["ws-shop-cp"], defaultCapacityProviderStrategy=[]))
    td = allowed("RegisterTaskDefinition", lambda: ecs.register_task_definition(
        family="ws-shop-web", executionRoleArn=role_arn, networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="256", memory="512", containerDefinitions=[{"name": "web", "image": "nginx"}], tags=etags("td")))
    td_arn = td["taskDefinition"]["taskDefinitionArn"]
    allowed("CreateService", lambda: ecs.create_service(
        cluster="ws-shop", serviceName="web", taskDefinition=td_arn, desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}}, tags=etags("svc")))
    allowed("UpdateService", lambda: ecs.update_service(cluster="ws-shop", service="web", desiredCount=2))
    allowed("TagResource (owned)", lambda: ecs.tag_resource(resourceArn=cluster, tags=[{"key": "extra", "value": "1"}]))
    allowed("UntagResource (owned)", lambda: ecs.untag_resource(resourceArn=cluster, tagKeys=["extra"]))
    for d, kw in (("describe_clusters", {"clusters": ["ws-shop"]}), ("describe_services", {"cluster": "ws-shop", "services": ["web"]}),
                  ("describe_task_definition", {"taskDefinition": td_arn}), ("list_task_definitions", {}),
                  ("describe_capacity_providers", {})):
        allowed(d, lambda: getattr(ecs, d)(**kw))
    denied("RegisterTaskDefinition passing a role not webstack-*", lambda: ecs.register_task_definition(
        family="ws-shop-x", executionRoleArn=f"arn:aws:iam::{acct}:role/admin-role", networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "web", "image": "nginx"}], tags=etags("td")))
    denied("CreateCluster without cluster tag", lambda: ecs.create_cluster(clusterName="ws-untagged"))

    print("Application Auto Scaling")
    aas = env.client("application-autoscaling", op)
    rid = "service/ws-shop/web"
    allowed("RegisterScalableTarget", lambda: aas.register_scalable_target(
        ServiceNamespace="ecs", ResourceId=rid, ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=3))
    allowed("PutScalingPolicy", lambda: aas.put_scaling_policy(
        PolicyName="cpu", ServiceNamespace="ecs", ResourceId=rid, ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}))
    allowed("DescribeScalableTargets", lambda: aas.describe_scalable_targets(ServiceNamespace="ecs"))
    allowed("DescribeScalingPolicies", lambda: aas.describe_scaling_policies(ServiceNamespace="ecs"))
    allowed("DeleteScalingPolicy", lambda: aas.delete_scaling_policy(
        PolicyName="cpu", ServiceNamespace="ecs", ResourceId=rid, ScalableDimension="ecs:service:DesiredCount"))
    allowed("DeregisterScalableTarget", lambda: aas.deregister_scalable_target(
        ServiceNamespace="ecs", ResourceId=rid, ScalableDimension="ecs:service:DesiredCount"))
    denied("RegisterScalableTarget of DynamoDB", lambda: aas.register_scalable_target(
        ServiceNamespace="dynamodb", ResourceId="table/t", ScalableDimension="dynamodb:table:ReadCapacityUnits", MinCapacity=1, MaxCapacity=3))

    print("RDS")
    rds = env.client("rds", op)
    allowed("CreateDBSubnetGroup", lambda: rds.create_db_subnet_group(
        DBSubnetGroupName="ws-shop-db", DBSubnetGroupDescription="d", SubnetIds=subnets, Tags=kv(T("dbsg"))))
    allowed("ModifyDBSubnetGroup", lambda: rds.modify_db_subnet_group(DBSubnetGroupName="ws-shop-db", SubnetIds=subnets))
    db = allowed("CreateDBInstance", lambda: rds.create_db_instance(
        DBInstanceIdentifier="ws-shop-db", DBInstanceClass="db.t4g.micro", Engine="postgres", AllocatedStorage=20,
        MasterUsername="u", MasterUserPassword="password123", DBSubnetGroupName="ws-shop-db", CopyTagsToSnapshot=True,
        Tags=kv(T("db"))))["DBInstance"]["DBInstanceArn"]
    allowed("ModifyDBInstance", lambda: rds.modify_db_instance(DBInstanceIdentifier="ws-shop-db", AllocatedStorage=30, ApplyImmediately=True))
    allowed("AddTagsToResource (owned)", lambda: rds.add_tags_to_resource(ResourceName=db, Tags=[{"Key": "extra", "Value": "1"}]))
    allowed("RemoveTagsFromResource (owned)", lambda: rds.remove_tags_from_resource(ResourceName=db, TagKeys=["extra"]))
    allowed("ListTagsForResource", lambda: rds.list_tags_for_resource(ResourceName=db))
    allowed("DescribeDBInstances", rds.describe_db_instances)
    allowed("DescribeDBSubnetGroups", rds.describe_db_subnet_groups)
    denied("CreateDBInstance without cluster tag", lambda: rds.create_db_instance(
        DBInstanceIdentifier="ws-untagged", DBInstanceClass="db.t4g.micro", Engine="postgres", AllocatedStorage=20,
        MasterUsername="u", MasterUserPassword="password123"))

    print("ElastiCache")
    ecache = env.client("elasticache", op)
    allowed("CreateCacheSubnetGroup", lambda: ecache.create_cache_subnet_group(
        CacheSubnetGroupName="ws-shop-cache", CacheSubnetGroupDescription="d", SubnetIds=subnets, Tags=kv(T("csg"))))
    allowed("ModifyCacheSubnetGroup", lambda: ecache.modify_cache_subnet_group(CacheSubnetGroupName="ws-shop-cache", SubnetIds=subnets))
    rg = allowed("CreateReplicationGroup", lambda: ecache.create_replication_group(
        ReplicationGroupId="ws-shop-cache", ReplicationGroupDescription="d", Engine="redis", CacheNodeType="cache.t4g.micro",
        NumCacheClusters=1, CacheSubnetGroupName="ws-shop-cache", Tags=kv(T("rg"))))
    rg_arn = f"arn:aws:elasticache:{REGION}:{acct}:replicationgroup:ws-shop-cache"
    allowed("AddTagsToResource (owned)", lambda: ecache.add_tags_to_resource(ResourceName=rg_arn, Tags=[{"Key": "extra", "Value": "1"}]))
    allowed("RemoveTagsFromResource (owned)", lambda: ecache.remove_tags_from_resource(ResourceName=rg_arn, TagKeys=["extra"]))
    allowed("ListTagsForResource", lambda: ecache.list_tags_for_resource(ResourceName=rg_arn))
    allowed("DescribeReplicationGroups", ecache.describe_replication_groups)
    allowed("DescribeCacheSubnetGroups", ecache.describe_cache_subnet_groups)
    allowed("ModifyReplicationGroup", lambda: ecache.modify_replication_group(ReplicationGroupId="ws-shop-cache", ApplyImmediately=True,
                                                                              SnapshotRetentionLimit=1))
    allowed("IncreaseReplicaCount", lambda: ecache.increase_replica_count(ReplicationGroupId="ws-shop-cache", NewReplicaCount=1, ApplyImmediately=True))
    allowed("DecreaseReplicaCount", lambda: ecache.decrease_replica_count(ReplicationGroupId="ws-shop-cache", NewReplicaCount=0, ApplyImmediately=True))

    print("CloudWatch Logs")
    logs = env.client("logs", op)
    allowed("CreateLogGroup", lambda: logs.create_log_group(logGroupName="/webstack/shop", tags=T("lg")))
    lg_arn = f"arn:aws:logs:{REGION}:{acct}:log-group:/webstack/shop"
    allowed("PutRetentionPolicy", lambda: logs.put_retention_policy(logGroupName="/webstack/shop", retentionInDays=7))
    allowed("TagResource", lambda: logs.tag_resource(resourceArn=lg_arn, tags={"webstack.io/cluster": CLUSTER}))
    allowed("UntagResource (owned)", lambda: logs.untag_resource(resourceArn=lg_arn, tagKeys=["Name"]))
    allowed("ListTagsForResource", lambda: logs.list_tags_for_resource(resourceArn=lg_arn))
    allowed("DescribeLogGroups", logs.describe_log_groups)

    print("Secrets Manager")
    sm = env.client("secretsmanager", op)
    allowed("CreateSecret", lambda: sm.create_secret(Name="webstack/shop/db", SecretString="x", Tags=kv(T("secret"))))
    allowed("DescribeSecret", lambda: sm.describe_secret(SecretId="webstack/shop/db"))
    allowed("PutSecretValue", lambda: sm.put_secret_value(SecretId="webstack/shop/db", SecretString="y"))
    allowed("GetSecretValue", lambda: sm.get_secret_value(SecretId="webstack/shop/db"))
    allowed("TagResource (owned)", lambda: sm.tag_resource(SecretId="webstack/shop/db", Tags=[{"Key": "extra", "Value": "1"}]))
    allowed("UntagResource (owned)", lambda: sm.untag_resource(SecretId="webstack/shop/db", TagKeys=["extra"]))
    denied("CreateSecret outside webstack/", lambda: sm.create_secret(Name="prod/db", SecretString="x", Tags=kv(T("s"))))

    print("S3")
    s3 = env.client("s3", op)
    bucket = "ws-shop-assets"
    allowed("CreateBucket with tags", lambda: s3.create_bucket(Bucket=bucket, **create_bucket_tags(T("bucket"))))
    allowed("PutBucketTagging", lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": kv(T("bucket"))}))
    allowed("GetBucketTagging", lambda: s3.get_bucket_tagging(Bucket=bucket))
    allowed("PutPublicAccessBlock", lambda: s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}))
    allowed("GetPublicAccessBlock", lambda: s3.get_public_access_block(Bucket=bucket))
    allowed("PutBucketEncryption", lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}))
    allowed("GetBucketEncryption", lambda: s3.get_bucket_encryption(Bucket=bucket))
    allowed("PutBucketOwnershipControls", lambda: s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}))
    allowed("GetBucketOwnershipControls", lambda: s3.get_bucket_ownership_controls(Bucket=bucket))
    allowed("PutBucketPolicy", lambda: s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]})))
    allowed("GetBucketPolicy", lambda: s3.get_bucket_policy(Bucket=bucket))
    allowed("ListObjectVersions", lambda: s3.list_object_versions(Bucket=bucket))
    env.client("s3", admin).put_object(Bucket=bucket, Key="index.html", Body=b"x")
    allowed("DeleteObjects", lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "index.html"}]}))
    allowed("DeleteBucketTagging", lambda: s3.delete_bucket_tagging(Bucket=bucket))
    allowed("DeleteBucket", lambda: s3.delete_bucket(Bucket=bucket))
    denied("CreateBucket without cluster tag", lambda: s3.create_bucket(Bucket="ws-untagged"))

    print("CloudFront")
    cf = env.client("cloudfront", op)
    oac = allowed("CreateOriginAccessControl", lambda: cf.create_origin_access_control(OriginAccessControlConfig={
        "Name": "ws-shop", "SigningProtocol": "sigv4", "SigningBehavior": "always", "OriginAccessControlOriginType": "s3"}))
    oac_id = oac["OriginAccessControl"]["Id"] if oac else None
    allowed("GetOriginAccessControl", lambda: cf.get_origin_access_control(Id=oac_id))
    allowed("ListOriginAccessControls", cf.list_origin_access_controls)
    dist_cfg = {"CallerReference": "ws-shop", "Comment": "", "Enabled": True,
                "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "ws-shop-assets.s3.amazonaws.com",
                                                      "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
                "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "redirect-to-https",
                                         "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}}
    dist = allowed("CreateDistributionWithTags", lambda: cf.create_distribution_with_tags(DistributionConfigWithTags={
        "DistributionConfig": dist_cfg, "Tags": {"Items": kv(T("cdn"))}}))
    if dist:
        did, darn = dist["Distribution"]["Id"], dist["Distribution"]["ARN"]
        allowed("GetDistribution", lambda: cf.get_distribution(Id=did))
        conf = allowed("GetDistributionConfig", lambda: cf.get_distribution_config(Id=did))
        allowed("UpdateDistribution", lambda: cf.update_distribution(Id=did, IfMatch=conf["ETag"], DistributionConfig={**conf["DistributionConfig"], "Enabled": False}))
        allowed("TagResource (owned)", lambda: cf.tag_resource(Resource=darn, Tags={"Items": [{"Key": "extra", "Value": "1"}]}))
        allowed("UntagResource (owned)", lambda: cf.untag_resource(Resource=darn, TagKeys={"Items": ["extra"]}))
        allowed("ListTagsForResource", lambda: cf.list_tags_for_resource(Resource=darn))
        allowed("ListDistributions", cf.list_distributions)
        etag = cf.get_distribution(Id=did)["ETag"]
        allowed("DeleteDistribution", lambda: cf.delete_distribution(Id=did, IfMatch=etag))
    allowed("DeleteOriginAccessControl", lambda: cf.delete_origin_access_control(Id=oac_id, IfMatch="x"))

    print("Route 53")
    r53a = env.client("route53", admin)
    zone = r53a.create_hosted_zone(Name="shop.example.com", CallerReference="z")["HostedZone"]["Id"].split("/")[-1]
    r53 = env.client("route53", op)
    allowed("GetHostedZone", lambda: r53.get_hosted_zone(Id=zone))
    allowed("ListResourceRecordSets", lambda: r53.list_resource_record_sets(HostedZoneId=zone))
    ch = allowed("ChangeResourceRecordSets A+TXT", lambda: r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": "www.shop.example.com", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "1.2.3.4"}]}},
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": "www.shop.example.com", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": '"x"'}]}}]}))
    if ch:
        allowed("GetChange", lambda: r53.get_change(Id=ch["ChangeInfo"]["Id"]))
    denied("ChangeResourceRecordSets MX", lambda: r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": "shop.example.com", "Type": "MX", "TTL": 60, "ResourceRecords": [{"Value": "10 mx"}]}}]}))

    print("CloudWatch, SNS")
    cw = env.client("cloudwatch", op)
    alarm = "webstack-shop-cpu"
    allowed("PutMetricAlarm", lambda: cw.put_metric_alarm(AlarmName=alarm, MetricName="CPUUtilization", Namespace="AWS/ECS",
                                                          Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=80,
                                                          ComparisonOperator="GreaterThanThreshold", Tags=kv(T("alarm"))))
    alarm_arn = f"arn:aws:cloudwatch:{REGION}:{acct}:alarm:{alarm}"
    allowed("DescribeAlarms (prefix)", lambda: cw.describe_alarms(AlarmNamePrefix="webstack-shop-"))
    allowed("TagResource (owned)", lambda: cw.tag_resource(ResourceARN=alarm_arn, Tags=[{"Key": "extra", "Value": "1"}]))
    allowed("UntagResource (owned)", lambda: cw.untag_resource(ResourceARN=alarm_arn, TagKeys=["extra"]))
    allowed("ListTagsForResource", lambda: cw.list_tags_for_resource(ResourceARN=alarm_arn))
    allowed("PutDashboard", lambda: cw.put_dashboard(DashboardName="webstack-shop", DashboardBody='{"widgets": []}'))
    allowed("GetDashboard", lambda: cw.get_dashboard(DashboardName="webstack-shop"))
    allowed("DeleteDashboards", lambda: cw.delete_dashboards(DashboardNames=["webstack-shop"]))
    allowed("DeleteAlarms", lambda: cw.delete_alarms(AlarmNames=[alarm]))
    denied("PutMetricAlarm not webstack-*", lambda: cw.put_metric_alarm(
        AlarmName="prod-cpu", MetricName="CPUUtilization", Namespace="AWS/ECS", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=80, ComparisonOperator="GreaterThanThreshold"))
    sns = env.client("sns", op)
    topic = allowed("CreateTopic", lambda: sns.create_topic(Name="webstack-alarms-shop", Tags=kv(T("topic"))))["TopicArn"]
    allowed("TagResource (owned)", lambda: sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "extra", "Value": "1"}]))
    allowed("UntagResource (owned)", lambda: sns.untag_resource(ResourceArn=topic, TagKeys=["extra"]))
    allowed("ListTagsForResource", lambda: sns.list_tags_for_resource(ResourceArn=topic))
    sub = allowed("Subscribe", lambda: sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com", ReturnSubscriptionArn=True))
    allowed("ListSubscriptionsByTopic", lambda: sns.list_subscriptions_by_topic(TopicArn=topic))
    allowed("ListTopics", sns.list_topics)
    if sub:
        allowed("Unsubscribe", lambda: sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"]))
    allowed("DeleteTopic", lambda: sns.delete_topic(TopicArn=topic))
    denied("CreateTopic not webstack-alarms-*", lambda: sns.create_topic(Name="prod-alarms"), "AuthorizationError")

    print("ECR, SSM")
    ecr = env.client("ecr", op)
    repo = allowed("CreateRepository", lambda: ecr.create_repository(repositoryName="webstack/shop/web", tags=kv(T("repo"))))
    repo_arn = repo["repository"]["repositoryArn"] if repo else ""
    allowed("DescribeRepositories", lambda: ecr.describe_repositories(repositoryNames=["webstack/shop/web"]))
    allowed("PutImageTagMutability", lambda: ecr.put_image_tag_mutability(repositoryName="webstack/shop/web", imageTagMutability="IMMUTABLE"))
    allowed("PutImageScanningConfiguration", lambda: ecr.put_image_scanning_configuration(
        repositoryName="webstack/shop/web", imageScanningConfiguration={"scanOnPush": True}))
    allowed("PutLifecyclePolicy", lambda: ecr.put_lifecycle_policy(repositoryName="webstack/shop/web", lifecyclePolicyText=json.dumps(
        {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}}]})))
    allowed("GetLifecyclePolicy", lambda: ecr.get_lifecycle_policy(repositoryName="webstack/shop/web"))
    allowed("ListImages", lambda: ecr.list_images(repositoryName="webstack/shop/web"))
    allowed("TagResource (owned)", lambda: ecr.tag_resource(resourceArn=repo_arn, tags=[{"Key": "extra", "Value": "1"}]))
    allowed("UntagResource (owned)", lambda: ecr.untag_resource(resourceArn=repo_arn, tagKeys=["extra"]))
    allowed("ListTagsForResource", lambda: ecr.list_tags_for_resource(resourceArn=repo_arn))
    allowed("DeleteRepository", lambda: ecr.delete_repository(repositoryName="webstack/shop/web", force=True))
    ssm = env.client("ssm", op)
    allowed("GetParameter ECS AMI", lambda: ssm.get_parameter(Name="/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"))
    denied("GetParameter other", lambda: ssm.get_parameter(Name="/prod/db-password"), "AccessDeniedException")

    denials_of_foreign(env, op, admin, st, lb, tg)

    print("Deletions")
    allowed("DeleteService", lambda: ecs.delete_service(cluster="ws-shop", service="web", force=True))
    allowed("DeregisterTaskDefinition", lambda: ecs.deregister_task_definition(taskDefinition=td_arn))
    allowed("PutClusterCapacityProviders (none)", lambda: ecs.put_cluster_capacity_providers(
        cluster="ws-shop", capacityProviders=[], defaultCapacityProviderStrategy=[]))
    allowed("DeleteCapacityProvider", lambda: ecs.delete_capacity_provider(capacityProvider="ws-shop-cp"))
    allowed("DeleteCluster", lambda: ecs.delete_cluster(cluster="ws-shop"))
    allowed("DeleteAutoScalingGroup", lambda: asg.delete_auto_scaling_group(AutoScalingGroupName="webstack-shop-asg", ForceDelete=True))
    allowed("DeleteRule", lambda: elb.delete_rule(RuleArn=rule))
    allowed("DeleteListener", lambda: elb.delete_listener(ListenerArn=lis))
    allowed("DeleteLoadBalancer", lambda: elb.delete_load_balancer(LoadBalancerArn=lb))
    allowed("DeleteTargetGroup", lambda: elb.delete_target_group(TargetGroupArn=tg))
    allowed("DeleteDBInstance with final snapshot", lambda: rds.delete_db_instance(
        DBInstanceIdentifier="ws-shop-db", FinalDBSnapshotIdentifier="ws-shop-db-final-1"))
    allowed("DeleteDBSubnetGroup", lambda: rds.delete_db_subnet_group(DBSubnetGroupName="ws-shop-db"))
    allowed("DeleteReplicationGroup", lambda: ecache.delete_replication_group(ReplicationGroupId="ws-shop-cache"))
    allowed("DeleteCacheSubnetGroup", lambda: ecache.delete_cache_subnet_group(CacheSubnetGroupName="ws-shop-cache"))
    allowed("DeleteLogGroup", lambda: logs.delete_log_group(logGroupName="/webstack/shop"))
    allowed("DeleteSecret", lambda: sm.delete_secret(SecretId="webstack/shop/db", ForceDeleteWithoutRecovery=True))
    fls = ec2.describe_flow_logs()["FlowLogs"]
    allowed("DeleteFlowLogs", lambda: ec2.delete_flow_logs(FlowLogIds=[f["FlowLogId"] for f in fls]))
    allowed("DeleteLaunchTemplate", lambda: ec2.delete_launch_template(LaunchTemplateId=lt))
    allowed("DeleteVpcEndpoints", lambda: ec2.delete_vpc_endpoints(VpcEndpointIds=[st["vpce"]]))
    allowed("DeleteNatGateway", lambda: ec2.delete_nat_gateway(NatGatewayId=st["nat"]))
    allowed("ReleaseAddress", lambda: ec2.release_address(AllocationId=st["eip"]))
    if st["assoc"]:
        allowed("DisassociateRouteTable", lambda: ec2.disassociate_route_table(AssociationId=st["assoc"]["AssociationId"]))
    allowed("DeleteRoute", lambda: ec2.delete_route(RouteTableId=st["rtb"], DestinationCidrBlock="0.0.0.0/0"))
    allowed("DeleteRouteTable", lambda: ec2.delete_route_table(RouteTableId=st["rtb"]))
    allowed("DetachInternetGateway", lambda: ec2.detach_internet_gateway(InternetGatewayId=st["igw"], VpcId=vpc_id))
    allowed("DeleteInternetGateway", lambda: ec2.delete_internet_gateway(InternetGatewayId=st["igw"]))
    allowed("DeleteSecurityGroup", lambda: ec2.delete_security_group(GroupId=sg))
    for s in subnets:
        allowed("DeleteSubnet", lambda: ec2.delete_subnet(SubnetId=s))
    allowed("DeleteVpc", lambda: ec2.delete_vpc(VpcId=vpc_id))
    allowed("RemoveRoleFromInstanceProfile", lambda: iam.remove_role_from_instance_profile(
        InstanceProfileName="webstack-shop-ip", RoleName="webstack-shop-exec"))
    allowed("DeleteInstanceProfile", lambda: iam.delete_instance_profile(InstanceProfileName="webstack-shop-ip"))
    allowed("DetachRolePolicy", lambda: iam.detach_role_policy(
        RoleName="webstack-shop-exec", PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"))
    allowed("DeleteRolePolicy", lambda: iam.delete_role_policy(RoleName="webstack-shop-exec", PolicyName="p"))
    allowed("DeleteRole", lambda: iam.delete_role(RoleName="webstack-shop-exec"))


def create_bucket_tags(tags: dict) -> dict:
    """CreateBucketConfiguration.Tags when this botocore knows it, else none (then the test adds
    the tags with PutBucketTagging, which the policy's statement S3Buckets allows)."""
    shape = boto3.client("s3", region_name=REGION).meta.service_model.shape_for("CreateBucketConfiguration")
    if "Tags" in shape.members:
        return {"CreateBucketConfiguration": {"Tags": kv(tags)}}
    return {}


def denials_of_foreign(env: Env, op: dict, admin: dict, st: dict, lb: str, tg: str) -> None:
    """Another cluster's resources (created by the admin, tagged webstack.io/cluster=OTHER)."""
    print("Another cluster's resources")
    o = lambda name: ownership("WebStack", name, cluster=OTHER)  # noqa: E731
    a_ec2, ec2 = env.client("ec2", admin), st["ec2"]
    fvpc = a_ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=ts("vpc", o("fvpc")))["Vpc"]["VpcId"]
    fsg = a_ec2.create_security_group(GroupName="f", Description="d", VpcId=fvpc, TagSpecifications=ts("security-group", o("fsg")))["GroupId"]
    fsub = a_ec2.create_subnet(VpcId=fvpc, CidrBlock="10.9.0.0/24", TagSpecifications=ts("subnet", o("fsub")))["Subnet"]["SubnetId"]
    denied("DeleteSecurityGroup (other cluster)", lambda: ec2.delete_security_group(GroupId=fsg), "UnauthorizedOperation")
    denied("AuthorizeSecurityGroupIngress (other cluster)", lambda: ec2.authorize_security_group_ingress(
        GroupId=fsg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]))
    denied("CreateSubnet in another cluster's VPC", lambda: ec2.create_subnet(
        VpcId=fvpc, CidrBlock="10.9.1.0/24", TagSpecifications=ts("subnet", ownership("WebStack", "s"))))
    denied("CreateTags re-tagging another cluster's VPC", lambda: ec2.create_tags(
        Resources=[fvpc], Tags=[{"Key": "webstack.io/cluster", "Value": CLUSTER}]))
    denied("CreateVpc without cluster tag", lambda: ec2.create_vpc(CidrBlock="10.8.0.0/16"), "UnauthorizedOperation")
    denied("CreateVpc tagged for another cluster", lambda: ec2.create_vpc(CidrBlock="10.8.0.0/16", TagSpecifications=ts("vpc", o("v"))))
    allowed("CreateSecurityGroup in any VPC (policy: Ec2SecurityGroupInAnyVpc)", lambda: ec2.create_security_group(
        GroupName="ours-in-foreign", Description="d", VpcId=fvpc, TagSpecifications=ts("security-group", ownership("WebStack", "sg2"))))

    a_elb, elb = env.client("elbv2", admin), env.client("elbv2", op)
    flb = a_elb.create_load_balancer(Name="foreign", Subnets=st["subnets"], Tags=kv(o("flb")))["LoadBalancers"][0]["LoadBalancerArn"]
    denied("ModifyLoadBalancerAttributes (other cluster)", lambda: elb.modify_load_balancer_attributes(
        LoadBalancerArn=flb, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "30"}]), "AccessDenied")
    denied("DeleteLoadBalancer (other cluster)", lambda: elb.delete_load_balancer(LoadBalancerArn=flb))
    gap("AddTags claiming another cluster's load balancer (TagWithClusterTag: aws:RequestTag only)",
        lambda: elb.add_tags(ResourceArns=[flb], Tags=[{"Key": "webstack.io/cluster", "Value": CLUSTER}]))

    a_rds, rds = env.client("rds", admin), env.client("rds", op)
    a_rds.create_db_instance(DBInstanceIdentifier="foreign-db", DBInstanceClass="db.t4g.micro", Engine="postgres",
                             AllocatedStorage=20, MasterUsername="u", MasterUserPassword="password123", Tags=kv(o("fdb")))
    denied("DeleteDBInstance (other cluster)", lambda: rds.delete_db_instance(DBInstanceIdentifier="foreign-db", SkipFinalSnapshot=True), "AccessDenied")
    denied("ModifyDBInstance (other cluster)", lambda: rds.modify_db_instance(DBInstanceIdentifier="foreign-db", AllocatedStorage=40))

    a_ecs, ecs = env.client("ecs", admin), env.client("ecs", op)
    a_ecs.create_cluster(clusterName="foreign", tags=kv(o("fc"), "key", "value"))
    td = a_ecs.register_task_definition(family="foreign", containerDefinitions=[{"name": "w", "image": "nginx", "memory": 128}])
    a_ecs.create_service(cluster="foreign", serviceName="fsvc", taskDefinition=td["taskDefinition"]["taskDefinitionArn"],
                         desiredCount=1, tags=kv(o("fs"), "key", "value"))
    denied("UpdateService (other cluster)", lambda: ecs.update_service(cluster="foreign", service="fsvc", desiredCount=0), "AccessDeniedException")
    denied("DeleteCluster (other cluster)", lambda: ecs.delete_cluster(cluster="foreign"))
    denied("TagResource on another cluster's ECS cluster", lambda: ecs.tag_resource(
        resourceArn="arn:aws:ecs:us-east-1:123456789012:cluster/foreign", tags=[{"key": "webstack.io/cluster", "value": CLUSTER}]))

    a_sm, sm = env.client("secretsmanager", admin), env.client("secretsmanager", op)
    a_sm.create_secret(Name="webstack/other/db", SecretString="x", Tags=kv(o("fsec")))
    gap("TagResource claiming another cluster's secret (SecretsCreateWithClusterTag has no create-only key)", lambda: sm.tag_resource(
        SecretId="webstack/other/db", Tags=[{"Key": "webstack.io/cluster", "Value": CLUSTER}]))

    a_iam, iam = env.client("iam", admin), env.client("iam", op)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                               "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]})
    a_iam.create_role(RoleName="webstack-other-exec", AssumeRolePolicyDocument=trust, Tags=kv(o("frole")))
    denied("PutRolePolicy on another cluster's role", lambda: iam.put_role_policy(
        RoleName="webstack-other-exec", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"}]})), "AccessDenied")


def gap(label: str, fn) -> None:
    """A call the policy should refuse but AWS would allow with it as written: asserted allowed
    (that is what AWS does) and listed as a policy finding."""
    try:
        fn()
        GAPS.append(label)
        print(f"  GAP     {label}: allowed by the policy as written")
    except ClientError as e:
        FAILURES.append(f"{label}: expected allowed (policy gap), got {e.response['Error']['Code']}")
        print(f"  FAIL    {label}: {e.response['Error']['Code']}")


def tenants(env: Env, boot: dict, admin: dict) -> None:
    """deploy/tenant-role-policy.json on two namespaces' sessions (docs/tenancy.md): the operator's
    identity (deploy/iam-policy-tenants.json) assumes webstack-tenant-<ns> with the session tags
    webstack.io/namespace and webstack.io/cluster; each session may create what its namespace
    owns and touch nothing of the other namespace."""
    print("Tenant roles")
    a_iam = env.client("iam", admin)
    tenant_op = make_user(env.client("iam", admin), "operator-tenants",
                          json.loads((ROOT / "deploy/iam-policy-tenants.json").read_text()))
    op_arn = f"arn:aws:iam::123456789012:user/operator-tenants"
    trust = (ROOT / "deploy/tenant-role-trust.json").read_text().replace("OPERATOR_ROLE_ARN", op_arn) \
        .replace("WEBSTACK_CLUSTER_ID", CLUSTER)
    policy = json.loads((ROOT / "deploy/tenant-role-policy.json").read_text())
    statements = policy["Statement"]
    sessions = {}
    sts = env.client("sts", tenant_op)
    for ns in ("shop", "blog"):
        a_iam.create_role(RoleName=f"webstack-tenant-{ns}", AssumeRolePolicyDocument=trust)
        for i in range(0, len(statements), 12):
            a_iam.put_role_policy(RoleName=f"webstack-tenant-{ns}", PolicyName=f"part{i}", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": statements[i:i + 12]}))
        c = allowed(f"AssumeRole webstack-tenant-{ns} with session tags", lambda: sts.assume_role(
            RoleArn=f"arn:aws:iam::123456789012:role/webstack-tenant-{ns}", RoleSessionName=f"webstack-{ns}",
            Tags=[{"Key": "webstack.io/namespace", "Value": ns}, {"Key": "webstack.io/cluster", "Value": CLUSTER}]))["Credentials"]
        sessions[ns] = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                        "aws_session_token": c["SessionToken"]}
    denied("AssumeRole without the namespace session tag", lambda: sts.assume_role(
        RoleArn="arn:aws:iam::123456789012:role/webstack-tenant-shop", RoleSessionName="xx",
        Tags=[{"Key": "webstack.io/cluster", "Value": CLUSTER}]))
    denied("AssumeRole of a role not webstack-tenant-*", lambda: sts.assume_role(
        RoleArn="arn:aws:iam::123456789012:role/webstack-shop-exec", RoleSessionName="xx"))
    shop, blog = env.client("ec2", sessions["shop"]), env.client("ec2", sessions["blog"])
    own = lambda ns, name: ownership("WebStack", name, namespace=ns)  # noqa: E731
    svpc = allowed("shop: CreateVpc owned by shop", lambda: shop.create_vpc(
        CidrBlock="10.20.0.0/16", TagSpecifications=ts("vpc", own("shop", "v"))))["Vpc"]["VpcId"]
    bvpc = allowed("blog: CreateVpc owned by blog", lambda: blog.create_vpc(
        CidrBlock="10.21.0.0/16", TagSpecifications=ts("vpc", own("blog", "v"))))["Vpc"]["VpcId"]
    denied("shop: CreateVpc owned by blog", lambda: shop.create_vpc(
        CidrBlock="10.22.0.0/16", TagSpecifications=ts("vpc", own("blog", "v2"))), "UnauthorizedOperation")
    ssg = allowed("shop: CreateSecurityGroup in its VPC", lambda: shop.create_security_group(
        GroupName="s", Description="d", VpcId=svpc, TagSpecifications=ts("security-group", own("shop", "sg"))))["GroupId"]
    bsg = allowed("blog: CreateSecurityGroup in its VPC", lambda: blog.create_security_group(
        GroupName="b", Description="d", VpcId=bvpc, TagSpecifications=ts("security-group", own("blog", "sg"))))["GroupId"]
    denied("shop: DeleteSecurityGroup of blog", lambda: shop.delete_security_group(GroupId=bsg), "UnauthorizedOperation")
    denied("shop: CreateTags owner=shop on blog's VPC", lambda: shop.create_tags(
        Resources=[bvpc], Tags=[{"Key": "webstack.io/owner", "Value": "shop/WebStack/v"}]))
    allowed("shop: DeleteSecurityGroup of its own", lambda: shop.delete_security_group(GroupId=ssg))
    ssm_shop, ssm_blog = env.client("secretsmanager", sessions["shop"]), env.client("secretsmanager", sessions["blog"])
    allowed("shop: CreateSecret webstack/shop/db", lambda: ssm_shop.create_secret(
        Name="webstack/shop/db", SecretString="x", Tags=kv(own("shop", "db"))))
    allowed("blog: CreateSecret webstack/blog/db", lambda: ssm_blog.create_secret(
        Name="webstack/blog/db", SecretString="x", Tags=kv(own("blog", "db"))))
    denied("shop: GetSecretValue webstack/blog/db", lambda: ssm_shop.get_secret_value(SecretId="webstack/blog/db"),
           "AccessDeniedException")
    denied("shop: CreateSecret webstack/blog/x", lambda: ssm_shop.create_secret(
        Name="webstack/blog/x", SecretString="x", Tags=kv(own("shop", "x"))))
    allowed("shop: GetSecretValue webstack/shop/db", lambda: ssm_shop.get_secret_value(SecretId="webstack/shop/db"))
    elb_shop = env.client("elbv2", sessions["shop"])
    denied("shop: CreateTargetGroup owned by blog", lambda: elb_shop.create_target_group(
        Name="x", Protocol="HTTP", Port=80, VpcId=svpc, TargetType="ip", Tags=kv(own("blog", "tg"))), "AccessDenied")
    allowed("shop: CreateTargetGroup owned by shop", lambda: elb_shop.create_target_group(
        Name="y", Protocol="HTTP", Port=80, VpcId=svpc, TargetType="ip", Tags=kv(own("shop", "tg"))))


PREFIXES = {"Application Auto Scaling": "application-autoscaling", "Auto Scaling": "autoscaling",
            "CloudFront": "cloudfront", "CloudWatch": "cloudwatch", "CloudWatch Logs": "logs", "EC2": "ec2",
            "ECR": "ecr", "ECS": "ecs", "ElastiCache": "elasticache", "Elastic Load Balancing v2": "elasticloadbalancing",
            "IAM": "iam", "RDS": "rds", "Route 53": "route53", "S3": "s3", "Secrets Manager": "secretsmanager",
            "SNS": "sns", "SSM": "ssm"}
# S3 operations → (method, sub-resource) of iam_requests.S3_BUCKET_ACTIONS (DeleteObjects: POST ?delete).
S3_OPS = {"CreateBucket": ("PUT", ""), "DeleteBucket": ("DELETE", ""), "DeleteBucketTagging": ("DELETE", "tagging"),
          "GetBucketEncryption": ("GET", "encryption"), "GetBucketOwnershipControls": ("GET", "ownershipControls"),
          "GetBucketPolicy": ("GET", "policy"), "GetBucketTagging": ("GET", "tagging"),
          "GetPublicAccessBlock": ("GET", "publicAccessBlock"), "ListObjectVersions": ("GET", "versions"),
          "PutBucketEncryption": ("PUT", "encryption"), "PutBucketOwnershipControls": ("PUT", "ownershipControls"),
          "PutBucketPolicy": ("PUT", "policy"), "PutBucketTagging": ("PUT", "tagging"),
          "PutPublicAccessBlock": ("PUT", "publicAccessBlock")}
EXERCISED: set[str] = set()


def _exercised(label: str) -> None:
    words = label.replace(":", " ").split()
    for w in words[:2]:
        EXERCISED.add("".join(p[:1].upper() + p[1:] for p in w.split("_")) if "_" in w else w)


def coverage() -> None:
    """For each operation of deploy/iam-operations.txt: whether iam_requests computes its resources
    and context (else the evaluator refuses it), and whether this script exercised it."""
    sys.path.insert(0, str(HERE))
    import iam_requests

    print("\nCoverage of deploy/iam-operations.txt (modelled: resource and context computed; "
          "exercised: called above under enforcement)")
    ops = [l.strip() for l in (ROOT / "deploy/iam-operations.txt").read_text().splitlines()
           if l.strip() and not l.startswith("#")]
    missing = 0
    for line in ops:
        service, op = line.rsplit(":", 1)
        prefix = PREFIXES[service]
        if prefix == "s3":
            modelled = op == "DeleteObjects" or S3_OPS.get(op) in iam_requests.S3_BUCKET_ACTIONS
        else:
            modelled = op in iam_requests.HANDLERS.get(prefix, {})
        missing += not modelled
        print(f"  {line:58} {'modelled' if modelled else 'REFUSED '}  {'exercised' if op in EXERCISED else '-'}")
    print(f"  {len(ops)} operations, {len(ops) - missing} modelled, {missing} refused; "
          f"{sum(1 for l in ops if l.rsplit(':', 1)[1] in EXERCISED)} exercised")


def main() -> int:
    proc, endpoint, log = start_server()
    try:
        env = Env(endpoint)
        boot = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "x"}
        iam = env.client("iam", boot)
        admin = make_user(iam, "admin", {"Version": "2012-10-17",
                                         "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
        op = make_user(iam, "operator", operator_policy(CLUSTER))
        urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                                      headers={"Content-Type": "application/octet-stream"}))
        state = operator_sequence(env, op, admin)
        run_rest(env, op, admin, state)
        tenants(env, boot, admin)
    finally:
        proc.terminate()
        proc.wait()
    gaps = [line for line in log.read_text().splitlines() if "iam_eval:" in line]
    print(f"\niam_eval log lines ({len(gaps)}):")
    for line in sorted(set(gaps)):
        print("  " + line)
    coverage()
    print(f"\n{len(GAPS)} policy finding(s) (allowed by deploy/iam-policy.json as written):")
    for g in GAPS:
        print("  " + g)
    print(f"\n{len(FAILURES)} failure(s)")
    for f in FAILURES:
        print("  " + f)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
