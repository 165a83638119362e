"""moto_server for this project's tests, with a small patch layer applied before it starts.

The product follows AWS's documented behaviour; where moto 5.2.5 differs in a way a test meets,
the difference is corrected here, never in the product. Each patch names the moto code it
replaces and the AWS behaviour it restores. Run as: python server.py -H 127.0.0.1 -p PORT
"""

import sys

import moto.server
from moto.ecs.exceptions import TaskDefinitionMemoryError, TaskDefinitionMissingPropertyError
from moto.ecs.models import EC2ContainerServiceBackend
from moto.iam.access_control import IAMRequestBase


def _validate_container_defs(memory, container_definitions, requires_compatibilities):
    """Replaces moto/ecs/models.py EC2ContainerServiceBackend._validate_container_defs.

    moto demands a container `memory` (hard limit) for the EC2 launch type. AWS accepts either
    `memory` or `memoryReservation` per container when the task sets no memory: "For containers
    that are hosted on Amazon EC2 instances, you must specify a non-zero integer for one or both
    of memory or memoryReservation in a container definition" (ECS ContainerDefinition reference).
    """
    for cd in container_definitions:
        if "name" not in cd and "Name" not in cd:
            raise TaskDefinitionMissingPropertyError("name")
        if "image" not in cd and "Image" not in cd:
            raise TaskDefinitionMissingPropertyError("image")
        limits = ("memory", "Memory", "memoryReservation", "MemoryReservation")
        if not memory and not any(k in cd for k in limits):
            raise TaskDefinitionMemoryError(cd["name"])


EC2ContainerServiceBackend._validate_container_defs = staticmethod(_validate_container_defs)


def _check_signature(self):
    """Replaces moto/iam/access_control.py IAMRequestBase.check_signature.

    With IAM enforced, moto recomputes each request's SigV4 signature from a request it rebuilds
    from the parsed form data, and rejects valid signatures whose body does not survive that round
    trip (seen on EC2 CreateSecurityGroup: AuthFailure). AWS verifies the signature over the bytes
    sent. The access key is still resolved and every action still authorized by its policies.
    """
    return None


IAMRequestBase.check_signature = _check_signature

# Lookups that stay cheap with many resources (same answers, no scans of every tag or group).
import speed  # noqa: E402,F401
# CloudFront: configurations read back as sent, ETags, deployment status, deletion and OAC rules.
import cloudfront  # noqa: E402,F401  (applies its patches on import)
# S3: tags given in CreateBucketConfiguration.
import s3_create_tags  # noqa: E402,F401
# RDS, ElastiCache: deletions that finish, subnet groups, replica counts, pending modifications.
import data  # noqa: E402,F401
# ECS: CreateService keeps its deployment settings; deployments that take time, fail and roll back.
import ecs_services  # noqa: E402,F401
# EC2 capacity: AWS managed IAM policies, services on capacity providers, providers in use.
import capacity  # noqa: E402,F401
# EC2 client tokens: a retry gets the first answer (before faults: a lost answer is replayed).
import idempotency  # noqa: E402,F401
# ELBv2: one load balancer per name (a repeated create returns it, as AWS does).
import elbv2_names  # noqa: E402,F401
# Fault injection: POST /webstack/faults.
import faults  # noqa: E402,F401
# EC2: NAT gateways that take time and release their Elastic IP on deletion; subnet dependencies.
import egress  # noqa: E402,F401
# EC2: DescribeTags, DescribeRouteTables, DescribeSecurityGroups, DescribeNatGateways in pages.
import pagination  # noqa: E402,F401
# CloudWatch and SNS: alarm tags on creation only, dashboard tags, pending email subscriptions.
import alarms  # noqa: E402,F401
# Account fixtures: POST /webstack/acm-certificates.
import fixtures  # noqa: E402,F401
# Route 53: transactional change batches checked against current records, PENDING changes,
# and the user's hosted zones (POST /webstack/hosted-zones).
import route53  # noqa: E402,F401
# EC2: the network interfaces of load balancers, databases, caches, tasks and endpoints, which
# outlive their owners for a while and hold up the deletion of groups, subnets and VPCs.
import interfaces  # noqa: E402,F401
# IAM enforcement: each request authorized like AWS, resources, conditions and tags evaluated.
import iam_eval  # noqa: E402,F401
# The operator's and the administrator's identities, and enforcement on: POST /webstack/identities.
import identities  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(moto.server.main())
