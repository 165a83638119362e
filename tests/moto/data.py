"""RDS, ElastiCache and Secrets Manager patches for moto 5.2.5 (moto/rds, moto/elasticache).

Importing this module applies them; it exports nothing. Each patch names the moto code it wraps
or replaces and the AWS behaviour it restores (Amazon RDS API Reference 2014-10-31, Amazon
ElastiCache API Reference 2015-02-02). The product follows AWS; only the emulator is corrected
here.

Secrets Manager needs no patch for the calls the product makes: moto already ignores a repeated
CreateSecret with the same ClientRequestToken and SecretString, refuses the same token with a
different secret value (ResourceExistsException), and removes a secret (and frees its name) at
once on DeleteSecret with ForceDeleteWithoutRecovery.

States that take time on AWS take time here too, compressed to seconds, each set by an environment
variable of the moto process (0 turns the state off; a test may slow or speed one, never skip it
by default):
- RDS instance: `creating` (no Endpoint) for MOTO_RDS_CREATE_SECONDS (default 2), then
  `backing-up` for MOTO_RDS_BACKUP_SECONDS (default 1, when backups are on), then `available`;
  `modifying` for MOTO_RDS_MODIFY_SECONDS (default 2) after a change applied at once; `deleting`
  for MOTO_RDS_DELETE_SECONDS (default 2) before it is gone.
- ElastiCache replication group: `creating` (no endpoints) for MOTO_ELASTICACHE_CREATE_SECONDS
  (default 2); `modifying` for MOTO_ELASTICACHE_MODIFY_SECONDS (default 2) after a change;
  `deleting` for MOTO_ELASTICACHE_DELETE_SECONDS (default 2) before it is gone.
While not `available`, the calls AWS refuses in that state are refused here with AWS's error.
moto's state manager (moto/moto_api/_internal/state_manager.py) has no model for RDS or
ElastiCache, so /moto-api/state-manager/set-transition cannot configure them.
"""

import time
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.elasticache.exceptions import (
    CacheClusterNotFound,
    CacheSubnetGroupNotFound,
    ElastiCacheException,
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    ReplicationGroupNotFound,
)
from moto.elasticache.models import (
    CacheSubnetGroup,
    ElastiCacheBackend,
    ReplicationGroup,
)
from moto.elasticache.responses import ElastiCacheResponse
from moto.rds.exceptions import (
    DBInstanceNotFoundError,
    DBSubnetGroupNotFoundError,
    InvalidDBInstanceStateFault,
    InvalidParameterCombination,
    RDSClientError,
)
from moto.rds.models import DBInstance, RDSBackend

from timing import seconds

# --- Errors AWS returns that moto's rds/exceptions.py and elasticache/exceptions.py lack (same
# --- style as moto's; the HTTP status comes from the botocore error shape of the same code).


class DBSubnetGroupAlreadyExistsFault(RDSClientError):
    """400. CreateDBSubnetGroup with a name already in use."""

    def __init__(self, name: str) -> None:
        super().__init__(
            "DBSubnetGroupAlreadyExists", f"The DB subnet group '{name}' already exists."
        )


class InvalidDBSubnetGroupStateFault(RDSClientError):
    """400. DeleteDBSubnetGroup while a DB instance still uses the group."""

    def __init__(self, name: str, instance_id: str) -> None:
        super().__init__(
            "InvalidDBSubnetGroupStateFault",
            f"Cannot delete the subnet group '{name}' because at least one database instance: "
            f"{instance_id} is still using it.",
        )


class CacheSubnetGroupInUse(ElastiCacheException):
    """400. DeleteCacheSubnetGroup while a replication group or cache cluster uses it."""

    code = "CacheSubnetGroupInUse"

    def __init__(self, name: str) -> None:
        super().__init__(f"Cache subnet group {name} is currently in use by a cache cluster.")


class InvalidReplicationGroupState(ElastiCacheException):
    """400. An operation on a replication group whose status does not allow it."""

    code = "InvalidReplicationGroupState"

    def __init__(self, group_id: str, status: str) -> None:
        super().__init__(f"Replication group {group_id} is not in available state ({status}).")


class InvalidCacheClusterState(ElastiCacheException):
    """400. An operation on a cache cluster whose status does not allow it."""

    code = "InvalidCacheClusterState"

    def __init__(self, cluster_id: str, status: str) -> None:
        super().__init__(f"Cache cluster {cluster_id} is not in available state ({status}).")


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


# ============================================================================================
# RDS
# ============================================================================================

# --- DB subnet groups -------------------------------------------------------------------------


def _subnet_group_key(backend: RDSBackend, name: str | None) -> str | None:
    if name is None:
        return None
    for key in backend.subnet_groups:
        if key.lower() == name.lower():
            return key
    return None


_create_subnet_group = RDSBackend.create_subnet_group


def _create_subnet_group_patched(
    self: RDSBackend, subnet_name: str, description: str, subnets: list[Any], tags: Any
) -> Any:
    """Wraps moto/rds/models.py RDSBackend.create_subnet_group.

    moto replaces an existing DB subnet group of the same name (its subnets, description and
    tags). AWS refuses the request with DBSubnetGroupAlreadyExists (DBSubnetGroupAlreadyExistsFault,
    HTTP 400: "DBSubnetGroupName is already used by an existing DB subnet group",
    CreateDBSubnetGroup reference). Names compare case-insensitively (AWS stores them in
    lowercase).
    """
    if _subnet_group_key(self, subnet_name) is not None:
        raise DBSubnetGroupAlreadyExistsFault(subnet_name)
    return _create_subnet_group(self, subnet_name, description, subnets, tags)


RDSBackend.create_subnet_group = _create_subnet_group_patched


def _modify_db_subnet_group(
    self: RDSBackend, subnet_name: str, description: str | None, subnets: list[Any]
) -> Any:
    """Replaces moto/rds/models.py RDSBackend.modify_db_subnet_group.

    moto pops the group out of the backend and never puts it back, so after ModifyDBSubnetGroup
    the group is gone (DescribeDBSubnetGroups: DBSubnetGroupNotFoundFault); an unknown name is a
    KeyError (HTTP 500). AWS modifies the group in place and returns it; an unknown name is
    DBSubnetGroupNotFoundFault (404) (ModifyDBSubnetGroup reference).
    """
    key = _subnet_group_key(self, subnet_name)
    if key is None:
        raise DBSubnetGroupNotFoundError(subnet_name)
    subnet_group = self.subnet_groups[key]
    if subnets:
        subnet_group.subnets = subnets
        subnet_group.vpc_id = subnets[0].vpc_id
    if description is not None:
        subnet_group.description = description
    return subnet_group


RDSBackend.modify_db_subnet_group = _modify_db_subnet_group

_delete_subnet_group = RDSBackend.delete_subnet_group


def _delete_subnet_group_patched(self: RDSBackend, subnet_name: str) -> Any:
    """Wraps moto/rds/models.py RDSBackend.delete_subnet_group.

    moto deletes a DB subnet group that a DB instance still uses. AWS refuses with
    InvalidDBSubnetGroupStateFault (400) "Cannot delete the subnet group '<name>' because at least
    one database instance: <id> is still using it." (DeleteDBSubnetGroup reference: "The specified
    database subnet group must not be associated with any DB instances").
    """
    _purge_deleted_instances(self)
    key = _subnet_group_key(self, subnet_name)
    if key is not None:
        for db_id, database in self.databases.items():
            used = getattr(database, "_db_subnet_group_name", None)
            if used is not None and used.lower() == key.lower():
                raise InvalidDBSubnetGroupStateFault(subnet_name, db_id)
        subnet_name = key
    return _delete_subnet_group(self, subnet_name)


RDSBackend.delete_subnet_group = _delete_subnet_group_patched

# --- DB instances: creation, backup, modification and deletion times; pending modifications --------------------

CREATE_SECONDS_ENV = "MOTO_RDS_CREATE_SECONDS"
BACKUP_SECONDS_ENV = "MOTO_RDS_BACKUP_SECONDS"
DELETE_SECONDS_ENV = "MOTO_RDS_DELETE_SECONDS"


MODIFY_SECONDS_ENV = "MOTO_RDS_MODIFY_SECONDS"


def _status_get(self: Any) -> str:
    """The status of an RDS instance or ElastiCache replication group: moto's (kept in `_status`),
    except that an `available` one reads `creating` until `_available_at`, `backing-up` until
    `_backed_up_at` and `modifying` until `_modified_at` (monotonic deadlines, dropped once
    passed)."""
    status = self.__dict__.get("_status", "available")
    phases = (("_available_at", "creating"), ("_backed_up_at", "backing-up"), ("_modified_at", "modifying"))
    for key, transient in phases:
        until = self.__dict__.get(key)
        if until is None:
            continue
        if status == "available" and time.monotonic() < until:
            return transient
        self.__dict__.pop(key, None)
    return status


def _status_set(self: Any, value: str) -> None:
    self.__dict__["_status"] = value


DBInstance.status = property(_status_get, _status_set)

_endpoint = DBInstance.endpoint


def _endpoint_patched(self: DBInstance) -> dict[str, Any] | None:
    """Wraps moto/rds/models.py DBInstance.endpoint: no Endpoint while the instance is `creating`
    (AWS assigns the endpoint when the instance becomes reachable)."""
    if self.status == "creating":
        return None
    return _endpoint.fget(self)


DBInstance.endpoint = property(_endpoint_patched)

_create_db_instance = RDSBackend.create_db_instance


def _create_db_instance_patched(self: RDSBackend, db_kwargs: dict[str, Any]) -> DBInstance:
    """Wraps moto/rds/models.py RDSBackend.create_db_instance.

    moto reports a new instance `available` at once. AWS: creation takes minutes; meanwhile
    DescribeDBInstances reports DBInstanceStatus `creating` ("The instance is being created. The
    instance is inaccessible while it is being created", Viewing Amazon RDS DB instance status,
    RDS User Guide) without an Endpoint, then `backing-up` ("The DB instance is currently being
    backed up": the first automated backup of an instance with a backup retention period), then
    `available`. Here `creating` lasts MOTO_RDS_CREATE_SECONDS (default 2) and `backing-up`
    MOTO_RDS_BACKUP_SECONDS (default 1).
    """
    database = _create_db_instance(self, db_kwargs)
    if database.__dict__.get("_status") == "available":
        now = time.monotonic()
        creating = seconds(CREATE_SECONDS_ENV, 2.0)
        backing_up = seconds(BACKUP_SECONDS_ENV, 1.0) if int(database.backup_retention_period or 0) > 0 else 0
        if creating > 0:
            database.__dict__["_available_at"] = now + creating
        if backing_up > 0:
            database.__dict__["_backed_up_at"] = now + creating + backing_up
    return database


RDSBackend.create_db_instance = _create_db_instance_patched


def _pending_modified_values(self: DBInstance) -> dict[str, Any]:
    """DBInstance.pending_modified_values (read as PendingModifiedValues): the modifications that
    wait for the next maintenance window; AWS returns the element in every DBInstance, empty when
    nothing is pending."""
    return self.__dict__.setdefault("_pending_modified_values", {})


DBInstance.pending_modified_values = property(_pending_modified_values)

# ModifyDBInstance parameters that AWS applies "during the next maintenance window, unless
# ApplyImmediately is enabled" (ModifyDBInstance reference), as (request key, PendingModifiedValues
# member, DBInstance attribute).
_DEFERRED = (
    ("db_instance_class", "DBInstanceClass", "db_instance_class"),
    ("allocated_storage", "AllocatedStorage", "allocated_storage"),
    ("multi_az", "MultiAZ", "multi_az"),
    ("engine_version", "EngineVersion", "engine_version"),
    ("storage_type", "StorageType", "storage_type"),
    ("iops", "Iops", "iops"),
    ("storage_throughput", "StorageThroughput", "storage_throughput"),
    ("backup_retention_period", "BackupRetentionPeriod", "backup_retention_period"),
)

_modify_db_instance = RDSBackend.modify_db_instance


def _modify_db_instance_patched(
    self: RDSBackend, db_instance_identifier: str, db_kwargs: Any
) -> DBInstance:
    """Wraps moto/rds/models.py RDSBackend.modify_db_instance.

    moto applies every modification at once whatever ApplyImmediately says, and modifies an
    instance in any status. AWS (ModifyDBInstance reference):
    - "ApplyImmediately: Specifies whether the modifications in this request are asynchronously
      applied as soon as possible, regardless of the PreferredMaintenanceWindow setting ... If
      this parameter is disabled, changes to the DB instance are applied during the next
      maintenance window" (default false). DBInstanceClass, AllocatedStorage, MultiAZ,
      EngineVersion, StorageType, Iops, StorageThroughput, and BackupRetentionPeriod when it
      changes between 0 and non-zero, are such changes: without ApplyImmediately they are not
      applied but listed in PendingModifiedValues (moto runs no maintenance window, so they stay
      there). With ApplyImmediately the request "and any pending modifications" are applied, and
      PendingModifiedValues is emptied. Other parameters (DeletionProtection, CopyTagsToSnapshot,
      BackupRetentionPeriod between non-zero values, ...) apply at once either way.
    - An instance that is not `available` (`creating`, `modifying`, ...) cannot be modified:
      InvalidDBInstanceState (400), "Database instance is not in available state."
    - A change applied at once (instance class, storage, Multi-AZ, ...) puts the instance in
      `modifying` ("The instance is being modified because of a customer request to modify the
      instance", Viewing Amazon RDS DB instance status) for minutes; here for
      MOTO_RDS_MODIFY_SECONDS (default 2), then `available`.
    """
    database = self.describe_db_instances(db_instance_identifier)[0]
    if database.status != "available":
        raise InvalidDBInstanceStateFault("Database instance is not in available state.")
    pending = database.pending_modified_values
    if _is_true(db_kwargs.get("apply_immediately")):
        for key, member, _attr in _DEFERRED:
            if member in pending and db_kwargs.get(key) is None:
                db_kwargs[key] = pending[member]
        pending.clear()
    else:
        for key, member, attr in _DEFERRED:
            value = db_kwargs.get(key)
            if value is None:
                continue
            current = getattr(database, attr, None)
            if key == "backup_retention_period" and (int(value) == 0) == (int(current or 0) == 0):
                continue  # between non-zero values: applied as soon as possible
            del db_kwargs[key]
            if value == current:
                pending.pop(member, None)
            else:
                pending[member] = value
    changing = any(
        db_kwargs.get(key) is not None and db_kwargs.get(key) != getattr(database, attr, None)
        for key, _member, attr in _DEFERRED
    )
    result = _modify_db_instance(self, db_instance_identifier, db_kwargs)
    if changing:
        window = seconds(MODIFY_SECONDS_ENV, 2.0)
        if window > 0:
            database.__dict__["_modified_at"] = time.monotonic() + window
    return result


RDSBackend.modify_db_instance = _modify_db_instance_patched

_delete_db_instance = RDSBackend.delete_db_instance


def _delete_db_instance_patched(
    self: RDSBackend,
    db_instance_identifier: str,
    final_db_snapshot_identifier: str | None = None,
    skip_final_snapshot: bool | None = False,
    delete_automated_backups: bool | None = True,
    **kwargs: Any,
) -> DBInstance:
    """Wraps moto/rds/models.py RDSBackend.delete_db_instance.

    moto deletes without a final snapshot when neither FinalDBSnapshotIdentifier nor
    SkipFinalSnapshot is given, and ignores FinalDBSnapshotIdentifier when SkipFinalSnapshot is
    also given. AWS (DeleteDBInstance reference): "SkipFinalSnapshot ... If you don't enable this
    parameter, you must specify the FinalDBSnapshotIdentifier parameter" (default false), else
    InvalidParameterCombination "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot
    is specified."; "If you enable this parameter [FinalDBSnapshotIdentifier] and also enable
    SkipFinalShapshot, the command results in an error" (InvalidParameterCombination). A final
    snapshot of an instance that is still `creating` cannot be taken (InvalidDBInstanceState).
    moto already refuses a protected instance (InvalidParameterCombination "Cannot delete
    protected DB Instance, please disable deletion protection and try again."), creates the final
    snapshot (tags copied when CopyTagsToSnapshot) and removes the instance.
    """
    skip = _is_true(skip_final_snapshot)
    if not skip and not final_db_snapshot_identifier:
        raise InvalidParameterCombination(
            "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified."
        )
    if skip and final_db_snapshot_identifier:
        raise InvalidParameterCombination(
            "FinalDBSnapshotIdentifier can not be specified when SkipFinalSnapshot is enabled."
        )
    _purge_deleted_instances(self)
    database = self.databases.get(db_instance_identifier)
    if database is None:
        raise DBInstanceNotFoundError(db_instance_identifier)
    if "_deleted_at" in database.__dict__:
        raise InvalidDBInstanceStateFault(f"Instance {db_instance_identifier} is already being deleted.")
    if final_db_snapshot_identifier and not database.deletion_protection:
        if database.status == "creating":
            raise InvalidDBInstanceStateFault(
                f"Instance {db_instance_identifier} is currently creating - a final snapshot "
                "cannot be taken."
            )
    window = seconds(DELETE_SECONDS_ENV, 2.0)
    if window <= 0 or database.deletion_protection:
        # moto refuses a protected instance (InvalidParameterCombination) as AWS does.
        return _delete_db_instance(
            self,
            db_instance_identifier,
            final_db_snapshot_identifier=final_db_snapshot_identifier,
            skip_final_snapshot=skip,
            delete_automated_backups=delete_automated_backups,
        )
    # `deleting` for a while (Viewing Amazon RDS DB instance status: "The DB instance is being
    # deleted"), still listed by DescribeDBInstances and still using its DB subnet group; moto's
    # own deletion (final snapshot, automated backups) runs when the time is up.
    database.__dict__.pop("_available_at", None)
    database.__dict__.pop("_backed_up_at", None)
    database.__dict__.pop("_modified_at", None)
    database.status = "deleting"
    database.__dict__["_deleted_at"] = time.monotonic() + window
    database.__dict__["_delete_args"] = {
        "final_db_snapshot_identifier": final_db_snapshot_identifier,
        "skip_final_snapshot": skip,
        "delete_automated_backups": delete_automated_backups,
    }
    return database


RDSBackend.delete_db_instance = _delete_db_instance_patched


def _purge_deleted_instances(backend: RDSBackend) -> None:
    """Removes the instances whose `deleting` time is up, through moto's own deletion (which
    takes the final snapshot): from then on DescribeDBInstances answers DBInstanceNotFound for
    them, as AWS does once an instance is deleted. Called wherever an instance is looked up."""
    now = time.monotonic()
    for identifier, database in list(backend.databases.items()):
        until = database.__dict__.get("_deleted_at")
        if until is None or now < until:
            continue
        database.__dict__["_status"] = "available"  # moto's deletion reads nothing else of it
        _delete_db_instance(backend, identifier, **database.__dict__["_delete_args"])
        database.__dict__["_status"] = "deleted"


_describe_db_instances = RDSBackend.describe_db_instances


def _describe_db_instances_patched(
    self: RDSBackend, db_instance_identifier: str | None = None, filters: Any = None
) -> list[DBInstance]:
    """Wraps moto/rds/models.py RDSBackend.describe_db_instances: instances whose deletion has
    finished are gone first (see `_purge_deleted_instances`)."""
    _purge_deleted_instances(self)
    return _describe_db_instances(self, db_instance_identifier, filters)


RDSBackend.describe_db_instances = _describe_db_instances_patched

_get_resource_for_tagging = RDSBackend._get_resource_for_tagging


def _get_resource_for_tagging_patched(self: RDSBackend, arn: str) -> Any:
    """Wraps moto/rds/models.py RDSBackend._get_resource_for_tagging.

    moto answers ListTagsForResource/AddTagsToResource/RemoveTagsFromResource on the ARN of a DB
    instance that does not exist (or no longer exists) with an empty success. AWS answers
    DBInstanceNotFound (DBInstanceNotFoundFault, 404; ListTagsForResource reference, Errors).
    """
    _purge_deleted_instances(self)
    resource = _get_resource_for_tagging(self, arn)
    parts = arn.split(":")
    if resource is None and len(parts) >= 7 and parts[5] == "db":
        raise DBInstanceNotFoundError(parts[6])
    return resource


RDSBackend._get_resource_for_tagging = _get_resource_for_tagging_patched

# ============================================================================================
# ElastiCache
# ============================================================================================

# --- Cache subnet groups ----------------------------------------------------------------------

_cache_subnet_group_init = CacheSubnetGroup.__init__


def _cache_subnet_group_init_patched(self: CacheSubnetGroup, *args: Any, **kwargs: Any) -> None:
    """Wraps moto/elasticache/models.py CacheSubnetGroup.__init__.

    moto keeps each subnet's availability zone as a bare string where the Subnet shape has the
    structure AvailabilityZone {Name}, so SubnetAvailabilityZone reads back empty. AWS returns
    SubnetAvailabilityZone {Name: "<az>"} (Subnet data type, ElastiCache API Reference).
    """
    _cache_subnet_group_init(self, *args, **kwargs)
    for subnet in self.subnets:
        az = subnet.pop("subnet_availability_zone", None) or subnet.pop(
            "Subnet_availability_zone", None
        )
        if isinstance(az, str):
            az = {"Name": az}
        subnet["subnet_availability_zone"] = az or {}


CacheSubnetGroup.__init__ = _cache_subnet_group_init_patched


def _subnet_group_users(backend: ElastiCacheBackend, name: str) -> bool:
    for group in backend.replication_groups.values():
        if group.cache_subnet_group_name == name:
            return True
    for cluster in backend.cache_clusters.values():
        if cluster.cache_subnet_group_name == name:
            return True
    return False


def _modify_cache_subnet_group(
    self: ElastiCacheBackend,
    cache_subnet_group_name: str,
    cache_subnet_group_description: str | None,
    subnet_ids: list[str] | None,
) -> CacheSubnetGroup:
    """Adds ElastiCacheBackend.modify_cache_subnet_group (moto/elasticache/models.py has none;
    ModifyCacheSubnetGroup answers HTTP 500). AWS replaces the description and/or the subnet list
    ("The EC2 subnet IDs for the cache subnet group") and returns the group;
    CacheSubnetGroupNotFoundFault for an unknown name (ModifyCacheSubnetGroup reference)."""
    old = self.describe_cache_subnet_groups(cache_subnet_group_name)[0]
    new = CacheSubnetGroup(
        account_id=self.account_id,
        region_name=self.region_name,
        cache_subnet_group_name=cache_subnet_group_name,
        cache_subnet_group_description=(
            cache_subnet_group_description
            if cache_subnet_group_description is not None
            else old.cache_subnet_group_description
        ),
        subnet_ids=subnet_ids or old.subnet_ids,
        tags=old.tags,
    )
    self.cache_subnet_groups[cache_subnet_group_name] = new
    return new


def _delete_cache_subnet_group(self: ElastiCacheBackend, cache_subnet_group_name: str) -> None:
    """Adds ElastiCacheBackend.delete_cache_subnet_group (moto/elasticache has none;
    DeleteCacheSubnetGroup answers HTTP 500). AWS (DeleteCacheSubnetGroup reference): the group
    is deleted ("You cannot delete a default cache subnet group or one that is associated with
    any clusters"): CacheSubnetGroupInUse (400) while a replication group or cache cluster,
    deleting ones included, uses it; CacheSubnetGroupNotFoundFault (400) for an unknown name."""
    group = self.describe_cache_subnet_groups(cache_subnet_group_name)[0]
    _purge_deleted(self)
    if _subnet_group_users(self, cache_subnet_group_name):
        raise CacheSubnetGroupInUse(cache_subnet_group_name)
    del self.cache_subnet_groups[cache_subnet_group_name]
    self.tagging_service.delete_all_tags_for_resource(group.arn)


ElastiCacheBackend.modify_cache_subnet_group = _modify_cache_subnet_group
ElastiCacheBackend.delete_cache_subnet_group = _delete_cache_subnet_group


def _modify_cache_subnet_group_response(self: ElastiCacheResponse) -> ActionResult:
    """Adds ElastiCacheResponse.modify_cache_subnet_group (ModifyCacheSubnetGroup)."""
    group = self.elasticache_backend.modify_cache_subnet_group(
        self._get_param("CacheSubnetGroupName"),
        self._get_param("CacheSubnetGroupDescription"),
        self._get_param("SubnetIds"),
    )
    return ActionResult({"CacheSubnetGroup": group})


def _delete_cache_subnet_group_response(self: ElastiCacheResponse) -> EmptyResult:
    """Adds ElastiCacheResponse.delete_cache_subnet_group (DeleteCacheSubnetGroup, no output)."""
    self.elasticache_backend.delete_cache_subnet_group(self._get_param("CacheSubnetGroupName"))
    return EmptyResult()


ElastiCacheResponse.modify_cache_subnet_group = _modify_cache_subnet_group_response
ElastiCacheResponse.delete_cache_subnet_group = _delete_cache_subnet_group_response

# --- Replication groups: members, endpoints ---------------------------------------------------

_set_node_members_clusters_disabled = ReplicationGroup._set_node_members_clusters_disabled


def _set_node_members_clusters_disabled_patched(
    self: ReplicationGroup, **kwargs: Any
) -> None:
    """Wraps moto/elasticache/models.py ReplicationGroup._set_node_members_clusters_disabled.

    moto sizes a cluster-mode-disabled group from ReplicasPerNodeGroup only and ignores
    NumCacheClusters, so NumCacheClusters=3 yields one member. AWS: "NumCacheClusters: The
    number of clusters this replication group initially has. This parameter is not used if there
    is more than one node group (shard)" - the primary plus NumCacheClusters-1 replicas
    (CreateReplicationGroup reference); MemberClusters lists them all.
    """
    if not kwargs.get("replicas_per_node_group"):
        kwargs["replicas_per_node_group"] = max(int(kwargs.get("num_cache_clusters") or 1) - 1, 0)
    _set_node_members_clusters_disabled(self, **kwargs)


ReplicationGroup._set_node_members_clusters_disabled = _set_node_members_clusters_disabled_patched

_replication_group_init = ReplicationGroup.__init__


def _replication_group_init_patched(self: ReplicationGroup, *args: Any, **kwargs: Any) -> None:
    """Wraps moto/elasticache/models.py ReplicationGroup.__init__.

    moto computes but never returns the reader endpoint of a cluster-mode-disabled group. AWS
    returns NodeGroups[].ReaderEndpoint {Address, Port} beside PrimaryEndpoint (NodeGroup data
    type: "The endpoint of the replica nodes in this node group (shard). This value is read-only.").
    """
    _replication_group_init(self, *args, **kwargs)
    for node_group in self.node_groups:
        reader = node_group.get("reader_endpoint_address")
        if reader and "reader_endpoint" not in node_group:
            node_group["reader_endpoint"] = {"address": reader, "port": self.port}


ReplicationGroup.__init__ = _replication_group_init_patched

_AUTO_FAILOVER_TWO_CLUSTERS = (
    "When using automatic failover, there must be at least 2 cache clusters in the replication "
    "group."
)

_create_replication_group = ElastiCacheBackend.create_replication_group


def _create_replication_group_patched(self: ElastiCacheBackend, **kwargs: Any) -> ReplicationGroup:
    """Wraps moto/elasticache/models.py ElastiCacheBackend.create_replication_group.

    moto accepts a CacheSubnetGroupName that names no cache subnet group, and automatic failover
    on a single-node group. AWS: CacheSubnetGroupNotFoundFault for an unknown subnet group;
    "AutomaticFailoverEnabled ... If true, ... NumCacheClusters must be at least 2" /
    "NumCacheClusters: If AutomaticFailoverEnabled is true, the value of this parameter must be
    at least 2" (CreateReplicationGroup reference), refused with InvalidParameterCombination
    "When using automatic failover, there must be at least 2 cache clusters in the replication
    group.".
    """
    subnet_group = kwargs.get("cache_subnet_group_name")
    if subnet_group and subnet_group not in self.cache_subnet_groups:
        raise CacheSubnetGroupNotFound(subnet_group)
    if (kwargs.get("cluster_mode") or "disabled") != "enabled":
        clusters = kwargs.get("num_cache_clusters")
        if not clusters:
            clusters = int(kwargs.get("replicas_per_node_group") or 0) + 1
        if not 1 <= int(clusters) <= 6:
            raise InvalidParameterValueException(
                "NumCacheClusters must be between 1 and 6 for a replication group with cluster "
                "mode disabled."
            )
        if _is_true(kwargs.get("automatic_failover_enabled")) and int(clusters) < 2:
            raise InvalidParameterCombinationException(_AUTO_FAILOVER_TWO_CLUSTERS)
    group = _create_replication_group(self, **kwargs)
    window = seconds(GROUP_CREATE_SECONDS_ENV, 2.0)
    if window > 0:
        group.__dict__["_available_at"] = time.monotonic() + window
    return group


ElastiCacheBackend.create_replication_group = _create_replication_group_patched

GROUP_CREATE_SECONDS_ENV = "MOTO_ELASTICACHE_CREATE_SECONDS"
GROUP_DELETE_SECONDS_ENV = "MOTO_ELASTICACHE_DELETE_SECONDS"


def _node_groups_get(self: ReplicationGroup) -> list[dict[str, Any]]:
    """ReplicationGroup.node_groups as DescribeReplicationGroups reads it: while the group is
    `creating` ("creating - The cluster is being created. It is not available for use", Viewing a
    cluster's status, ElastiCache User Guide; here for MOTO_ELASTICACHE_CREATE_SECONDS, default 2)
    its node groups are `creating` and have no primary or reader endpoint yet; moto answers them
    at once."""
    groups = self.__dict__.setdefault("_node_groups", [])
    if self.status != "creating":
        return groups
    hidden = ("primary_endpoint", "primary_endpoint_address", "reader_endpoint", "reader_endpoint_address")
    return [{**{k: v for k, v in g.items() if k not in hidden}, "status": "creating"} for g in groups]


def _node_groups_set(self: ReplicationGroup, value: list[dict[str, Any]]) -> None:
    self.__dict__["_node_groups"] = value


ReplicationGroup.node_groups = property(_node_groups_get, _node_groups_set)

# --- Replication groups: `modifying` -------------------------------------------------------------

GROUP_MODIFY_SECONDS_ENV = "MOTO_ELASTICACHE_MODIFY_SECONDS"


ReplicationGroup.status = property(_status_get, _status_set)


def _modifying(group: ReplicationGroup) -> None:
    """A replication group that was changed (replicas added or removed, node type, automatic
    failover or Multi-AZ toggled) reads `modifying` for minutes on AWS ("modifying - The cluster
    is being modified", Viewing a cluster's status, ElastiCache User Guide) and refuses further
    changes meanwhile (InvalidReplicationGroupState, e.g. a replica-count change right after a
    failover toggle). moto changes groups at once and stays `available`. Here the window lasts
    MOTO_ELASTICACHE_MODIFY_SECONDS (default 2)."""
    window = seconds(GROUP_MODIFY_SECONDS_ENV, 2.0)
    if window > 0:
        group.__dict__["_modified_at"] = time.monotonic() + window


_modify_replication_group = ElastiCacheBackend.modify_replication_group


def _modify_replication_group_patched(
    self: ElastiCacheBackend, replication_group_id: str, *args: Any, **kwargs: Any
) -> ReplicationGroup:
    """Wraps moto/elasticache/models.py ElastiCacheBackend.modify_replication_group: refused
    unless the group is `available` (InvalidReplicationGroupState, ModifyReplicationGroup
    reference), then `modifying` for a while when the node type, automatic failover or Multi-AZ
    is given (see `_modifying`)."""
    _available_group(self, replication_group_id)
    group = _modify_replication_group(self, replication_group_id, *args, **kwargs)
    names = ("cache_node_type", "automatic_failover_enabled", "multi_az_enabled")
    given = [kwargs.get(n) for n in names] + [a for i, a in enumerate(args) if i in (2, 3, 4)]
    if any(v is not None for v in given):
        _modifying(group)
    return group


ElastiCacheBackend.modify_replication_group = _modify_replication_group_patched

# --- Replication groups: replica count ----------------------------------------------------------


def _available_group(backend: ElastiCacheBackend, group_id: str) -> ReplicationGroup:
    group = backend.replication_groups.get(group_id)
    if group is None:
        raise ReplicationGroupNotFound(group_id)
    if group.status != "available":
        raise InvalidReplicationGroupState(group_id, group.status)
    return group


def _replica_members(group: ReplicationGroup) -> list[dict[str, Any]]:
    members = group.node_groups[0]["node_group_members"]
    return [m for m in members if m.get("current_role") != "primary"]


def _new_replica(group: ReplicationGroup, number: int, az: str | None) -> dict[str, Any]:
    node_group = group.node_groups[0]
    domain = node_group["primary_endpoint_address"].split(".", 1)[1]
    cluster_id = f"{group.replication_group_id}-{number:0>3}"
    return {
        "cache_cluster_id": cluster_id,
        "cache_node_id": node_group["node_group_id"],
        "read_endpoint": {"address": f"{cluster_id}.{domain}", "port": group.port},
        "preferred_availability_zone": az or "us-east-1b",
        "current_role": "replica",
    }


def _increase_replica_count(
    self: ElastiCacheBackend,
    replication_group_id: str,
    new_replica_count: int | None,
    replica_configuration: list[dict[str, Any]] | None,
) -> ReplicationGroup:
    """Adds ElastiCacheBackend.increase_replica_count (moto/elasticache has none; HTTP 500).

    AWS (IncreaseReplicaCount reference), cluster mode disabled: NewReplicaCount is "the number
    of read replica nodes you want at the completion of this operation"; the maximum is 5; the
    group gains that many replica clusters <id>-002.. listed in MemberClusters and NodeGroupMembers.
    The group must be available (InvalidReplicationGroupState).
    """
    group = _available_group(self, replication_group_id)
    if group.cluster_mode == "enabled":
        raise InvalidParameterValueException(
            "Use ReplicaConfiguration to change the replica count of a cluster mode enabled "
            "replication group."
        )
    if new_replica_count is None and replica_configuration:
        new_replica_count = replica_configuration[0].get("NewReplicaCount")
    if new_replica_count is None:
        raise InvalidParameterValueException("NewReplicaCount must be specified.")
    new_replica_count = int(new_replica_count)
    replicas = _replica_members(group)
    if not 0 <= new_replica_count <= 5:
        raise InvalidParameterValueException(
            "The number of replicas per node group must be between 0 and 5."
        )
    if new_replica_count <= len(replicas):
        raise InvalidParameterValueException(
            f"The new replica count {new_replica_count} must be greater than the current number "
            f"of replicas {len(replicas)}."
        )
    members = group.node_groups[0]["node_group_members"]
    used = {m["cache_cluster_id"] for m in members}
    number = 2
    while len(_replica_members(group)) < new_replica_count:
        cluster_id = f"{group.replication_group_id}-{number:0>3}"
        if cluster_id not in used:
            members.append(_new_replica(group, number, None))
            group.member_clusters.append(cluster_id)
            used.add(cluster_id)
        number += 1
    _modifying(group)
    return group


def _decrease_replica_count(
    self: ElastiCacheBackend,
    replication_group_id: str,
    new_replica_count: int | None,
    replica_configuration: list[dict[str, Any]] | None,
    replicas_to_remove: list[str] | None,
) -> ReplicationGroup:
    """Adds ElastiCacheBackend.decrease_replica_count (moto/elasticache has none; HTTP 500).

    AWS (DecreaseReplicaCount reference), cluster mode disabled: NewReplicaCount is the number of
    replicas left, or ReplicasToRemove names them; "The minimum number of replicas in a shard or
    replication group is: ... (cluster mode disabled) If Multi-AZ is enabled: 1, If Multi-AZ is
    not enabled: 0", refused with InvalidParameterValue "Must have at least 1 replica when
    cluster mode is disabled with auto failover enabled.". The removed clusters leave
    MemberClusters and NodeGroupMembers. The group must be available.
    """
    group = _available_group(self, replication_group_id)
    if new_replica_count is None and replica_configuration:
        new_replica_count = replica_configuration[0].get("NewReplicaCount")
    replicas = _replica_members(group)
    if replicas_to_remove:
        ids = {r["cache_cluster_id"] for r in replicas}
        for cluster_id in replicas_to_remove:
            if cluster_id not in ids:
                raise CacheClusterNotFound(cluster_id)
        remove = list(replicas_to_remove)
        target = len(replicas) - len(remove)
    elif new_replica_count is not None:
        target = int(new_replica_count)
        if target < 0 or target >= len(replicas):
            raise InvalidParameterValueException(
                f"The new replica count {target} must be less than the current number of "
                f"replicas {len(replicas)} and not negative."
            )
        ordered = sorted(replicas, key=lambda r: r["cache_cluster_id"], reverse=True)
        remove = [r["cache_cluster_id"] for r in ordered[: len(replicas) - target]]
    else:
        raise InvalidParameterValueException(
            "Either NewReplicaCount or ReplicasToRemove must be specified."
        )
    if target < 1 and (group.automatic_failover == "enabled" or group.multi_az == "enabled"):
        raise InvalidParameterValueException(
            "Must have at least 1 replica when cluster mode is disabled with auto failover enabled."
        )
    node_group = group.node_groups[0]
    node_group["node_group_members"] = [
        m for m in node_group["node_group_members"] if m["cache_cluster_id"] not in remove
    ]
    group.member_clusters[:] = [c for c in group.member_clusters if c not in remove]
    _modifying(group)
    return group


ElastiCacheBackend.increase_replica_count = _increase_replica_count
ElastiCacheBackend.decrease_replica_count = _decrease_replica_count


def _increase_replica_count_response(self: ElastiCacheResponse) -> ActionResult:
    """Adds ElastiCacheResponse.increase_replica_count (IncreaseReplicaCount)."""
    group = self.elasticache_backend.increase_replica_count(
        self._get_param("ReplicationGroupId"),
        self._get_int_param("NewReplicaCount"),
        self._get_param("ReplicaConfiguration"),
    )
    return ActionResult({"ReplicationGroup": group})


def _decrease_replica_count_response(self: ElastiCacheResponse) -> ActionResult:
    """Adds ElastiCacheResponse.decrease_replica_count (DecreaseReplicaCount)."""
    group = self.elasticache_backend.decrease_replica_count(
        self._get_param("ReplicationGroupId"),
        self._get_int_param("NewReplicaCount"),
        self._get_param("ReplicaConfiguration"),
        self._get_param("ReplicasToRemove"),
    )
    return ActionResult({"ReplicationGroup": group})


ElastiCacheResponse.increase_replica_count = _increase_replica_count_response
ElastiCacheResponse.decrease_replica_count = _decrease_replica_count_response

# --- Replication groups and cache clusters: deletion ------------------------------------------


def _purge_deleted(backend: ElastiCacheBackend) -> None:
    # A group answered `deleting` (DeleteReplicationGroup) is gone once MOTO_ELASTICACHE_DELETE_SECONDS
    # (default 2) have passed, a cluster (DeleteCacheCluster) from the next describe on: moto has
    # no state-manager model for ElastiCache deletion.
    now = time.monotonic()
    for group_id, group in list(backend.replication_groups.items()):
        if group.status == "deleting" and now >= group.__dict__.get("_deleted_at", 0):
            del backend.replication_groups[group_id]
            backend.tagging_service.delete_all_tags_for_resource(group.arn)
    for cluster_id, cluster in list(backend.cache_clusters.items()):
        if cluster.cache_cluster_status == "deleting":
            del backend.cache_clusters[cluster_id]
            backend.tagging_service.delete_all_tags_for_resource(cluster.arn)


def _delete_replication_group(
    self: ElastiCacheBackend, replication_group_id: str, retain_primary_cluster: bool | None
) -> ReplicationGroup:
    """Replaces moto/elasticache/models.py ElastiCacheBackend.delete_replication_group.

    moto sets the status to `deleting` and keeps the group forever (DescribeReplicationGroups
    lists it as `deleting`), and drops the primary from MemberClusters. AWS
    (DeleteReplicationGroup reference): "the replication group ... is deleted ... This operation
    is valid only when the replication group is in the `available` state" (else
    InvalidReplicationGroupState); the response shows it `deleting`, and once deleted,
    DescribeReplicationGroups answers ReplicationGroupNotFoundFault (404). Here: `deleting` (still
    listed, still using its cache subnet group) for MOTO_ELASTICACHE_DELETE_SECONDS (default 2),
    then gone with its tags.
    RetainPrimaryCluster is not emulated (moto models no member cache clusters).
    """
    group = _available_group(self, replication_group_id)
    group.status = "deleting"
    for node_group in group.node_groups:
        node_group["status"] = "deleting"
    group.__dict__["_deleted_at"] = time.monotonic() + seconds(GROUP_DELETE_SECONDS_ENV, 2.0)
    return group


ElastiCacheBackend.delete_replication_group = _delete_replication_group

_describe_replication_groups = ElastiCacheBackend.describe_replication_groups


def _describe_replication_groups_patched(
    self: ElastiCacheBackend, replication_group_id: str | None = None
) -> list[ReplicationGroup]:
    """Wraps moto/elasticache/models.py ElastiCacheBackend.describe_replication_groups: groups
    deleted before this call are gone (ReplicationGroupNotFoundFault when asked by id)."""
    _purge_deleted(self)
    return _describe_replication_groups(self, replication_group_id)


ElastiCacheBackend.describe_replication_groups = _describe_replication_groups_patched

_delete_cache_cluster = ElastiCacheBackend.delete_cache_cluster


def _delete_cache_cluster_patched(self: ElastiCacheBackend, cache_cluster_id: str) -> Any:
    """Wraps moto/elasticache/models.py ElastiCacheBackend.delete_cache_cluster.

    Same as replication groups: moto keeps the cluster `deleting` forever. AWS: `deleting` in the
    DeleteCacheCluster response, then gone (CacheClusterNotFound from DescribeCacheClusters); a
    cluster already deleting cannot be deleted again (InvalidCacheClusterState).
    """
    cluster = self.cache_clusters.get(cache_cluster_id)
    if cluster is not None and cluster.cache_cluster_status == "deleting":
        raise InvalidCacheClusterState(cache_cluster_id, "deleting")
    return _delete_cache_cluster(self, cache_cluster_id)


ElastiCacheBackend.delete_cache_cluster = _delete_cache_cluster_patched

_describe_cache_clusters = ElastiCacheBackend.describe_cache_clusters


def _describe_cache_clusters_patched(
    self: ElastiCacheBackend, cache_cluster_id: str | None = None
) -> list[Any]:
    """Wraps moto/elasticache/models.py ElastiCacheBackend.describe_cache_clusters: clusters
    deleted before this call are gone (CacheClusterNotFound when asked by id)."""
    _purge_deleted(self)
    return _describe_cache_clusters(self, cache_cluster_id)


ElastiCacheBackend.describe_cache_clusters = _describe_cache_clusters_patched

# --- Tags -------------------------------------------------------------------------------------


def _check_tagged_resource(backend: ElastiCacheBackend, arn: str) -> None:
    # arn:aws:elasticache:<region>:<account>:<type>:<name>
    parts = arn.split(":")
    if len(parts) < 7 or not backend.arn_regex.match(arn):
        return
    kind, name = parts[5], ":".join(parts[6:])
    if kind == "replicationgroup" and name not in backend.replication_groups:
        raise ReplicationGroupNotFound(name)
    if kind == "subnetgroup" and name not in backend.cache_subnet_groups:
        raise CacheSubnetGroupNotFound(name)
    if kind == "cluster" and name not in backend.cache_clusters:
        if not any(name in g.member_clusters for g in backend.replication_groups.values()):
            raise CacheClusterNotFound(name)


_list_tags_for_resource = ElastiCacheBackend.list_tags_for_resource
_add_tags_to_resource = ElastiCacheBackend.add_tags_to_resource
_remove_tags_from_resource = ElastiCacheBackend.remove_tags_from_resource


def _list_tags_for_resource_patched(self: ElastiCacheBackend, arn: str) -> Any:
    """Wraps moto/elasticache/models.py ElastiCacheBackend.list_tags_for_resource.

    moto lists (empty) tags for the ARN of a replication group, cache subnet group or cluster
    that does not exist (or was deleted). AWS answers ReplicationGroupNotFoundFault,
    CacheSubnetGroupNotFoundFault or CacheClusterNotFound (ListTagsForResource reference, Errors).
    """
    _purge_deleted(self)
    _check_tagged_resource(self, arn)
    return _list_tags_for_resource(self, arn)


def _add_tags_to_resource_patched(self: ElastiCacheBackend, arn: str, tags: Any) -> None:
    """Wraps moto/elasticache/models.py ElastiCacheBackend.add_tags_to_resource; same not-found
    errors as ListTagsForResource (moto tags any ARN, even of nothing)."""
    _purge_deleted(self)
    _check_tagged_resource(self, arn)
    _add_tags_to_resource(self, arn, tags)


def _remove_tags_from_resource_patched(self: ElastiCacheBackend, arn: str, tags: Any) -> None:
    """Wraps moto/elasticache/models.py ElastiCacheBackend.remove_tags_from_resource; same
    not-found errors as ListTagsForResource."""
    _purge_deleted(self)
    _check_tagged_resource(self, arn)
    _remove_tags_from_resource(self, arn, tags)


ElastiCacheBackend.list_tags_for_resource = _list_tags_for_resource_patched
ElastiCacheBackend.add_tags_to_resource = _add_tags_to_resource_patched
ElastiCacheBackend.remove_tags_from_resource = _remove_tags_from_resource_patched


def _add_tags_to_resource_response(self: ElastiCacheResponse) -> ActionResult:
    """Replaces moto/elasticache/responses.py ElastiCacheResponse.add_tags_to_resource, which
    returns an empty result; AWS returns the resource's tags after the change (TagListMessage)."""
    arn = self._get_param("ResourceName")
    self.elasticache_backend.add_tags_to_resource(arn, self._get_param("Tags", []))
    tags = self.elasticache_backend.list_tags_for_resource(arn)["Tags"]
    return ActionResult({"TagList": tags})


def _remove_tags_from_resource_response(self: ElastiCacheResponse) -> ActionResult:
    """Replaces moto/elasticache/responses.py ElastiCacheResponse.remove_tags_from_resource, which
    returns an empty result; AWS returns the resource's tags after the change (TagListMessage)."""
    arn = self._get_param("ResourceName")
    self.elasticache_backend.remove_tags_from_resource(arn, self._get_param("TagKeys", []))
    tags = self.elasticache_backend.list_tags_for_resource(arn)["Tags"]
    return ActionResult({"TagList": tags})


ElastiCacheResponse.add_tags_to_resource = _add_tags_to_resource_response
ElastiCacheResponse.remove_tags_from_resource = _remove_tags_from_resource_response
