"""CloudFront patches for moto 5.2.5 (moto/cloudfront/models.py and responses.py).

Importing this module applies them; it exports nothing. Each patch names the moto code it wraps
or replaces and the AWS behaviour it restores (CloudFront API Reference, 2020-05-31). The product
follows AWS; only the emulator is corrected here.
"""

from datetime import datetime
from typing import Any

from moto.cloudfront import models as _models
from moto.cloudfront.exceptions import (
    CloudFrontException,
    InvalidIfMatchVersion,
    NoSuchDistribution,
    NoSuchOriginAccessControl,
)
from moto.cloudfront.models import (
    CacheBehaviour,
    CloudFrontBackend,
    DefaultCacheBehaviour,
    Distribution,
    DistributionConfig,
    Origin,
    OriginAccessControl,
    ViewerCertificate,
    random_id,
)
from moto.cloudfront.responses import CloudFrontResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow

# --- Errors AWS returns that moto's cloudfront/exceptions.py lacks (same style; the HTTP status
# --- comes from the botocore error shape of the same code).


class PreconditionFailed(CloudFrontException):
    """412. An IfMatch header that is not the resource's current ETag."""

    def __init__(self) -> None:
        super().__init__(
            "PreconditionFailed",
            "The precondition given in one or more of the request-header fields evaluated to "
            "false.",
        )


class DistributionNotDisabled(CloudFrontException):
    """409. DeleteDistribution on a distribution that is enabled or not yet Deployed."""

    def __init__(self) -> None:
        super().__init__(
            "DistributionNotDisabled",
            "The distribution you are trying to delete has not been disabled.",
        )


class IllegalUpdate(CloudFrontException):
    """400. UpdateDistribution that changes the CallerReference."""

    def __init__(self) -> None:
        super().__init__(
            "IllegalUpdate", "The update contains modifications that are not allowed."
        )


class InvalidOriginAccessControl(CloudFrontException):
    """400. An origin that names an origin access control that does not exist."""

    def __init__(self) -> None:
        super().__init__("InvalidOriginAccessControl", "The origin access control is not valid.")


class OriginAccessControlAlreadyExists(CloudFrontException):
    """409. CreateOriginAccessControl/UpdateOriginAccessControl with a name already in use."""

    def __init__(self, name: str) -> None:
        super().__init__(
            "OriginAccessControlAlreadyExists",
            f"An origin access control with the same name already exists: {name}",
        )


class OriginAccessControlInUse(CloudFrontException):
    """409. DeleteOriginAccessControl while a distribution's origin still uses it."""

    def __init__(self) -> None:
        super().__init__(
            "OriginAccessControlInUse",
            "Cannot delete the origin access control because it's in use by one or more "
            "distributions.",
        )


# --- Distribution configuration as read back -------------------------------------------------

_origin_init = Origin.__init__


def _origin_init_patched(self: Origin, origin: dict[str, Any]) -> None:
    """Wraps moto/cloudfront/models.py Origin.__init__.

    moto keeps only the OAI string of `S3OriginConfig` (under a name the serializer never reads)
    and drops `OriginAccessControlId`, so neither is returned. AWS returns the origin as sent:
    `S3OriginConfig` with `OriginAccessIdentity` (and `OriginReadTimeout`, "the default ... is 30
    seconds", S3OriginConfig reference), and `OriginAccessControlId` ("" when the origin uses
    none). An origin without custom headers reads `CustomHeaders {Quantity: 0}` with no `Items`.
    """
    _origin_init(self, origin)
    s3 = origin.get("S3OriginConfig")
    if s3 is not None:
        self.s3_origin_config = {
            "OriginAccessIdentity": s3.get("OriginAccessIdentity") or "",
            "OriginReadTimeout": s3.get("OriginReadTimeout") or 30,
        }
    self.origin_access_control_id = origin.get("OriginAccessControlId") or ""
    if not (self.custom_headers or {}).get("Items"):
        self.custom_headers = {"Quantity": 0}


Origin.__init__ = _origin_init_patched

_default_cache_behaviour_init = DefaultCacheBehaviour.__init__
_cache_behaviour_init = CacheBehaviour.__init__


def _as_aws_reads_behaviour(behaviour: DefaultCacheBehaviour, config: dict[str, Any]) -> None:
    if config.get("CachePolicyId"):
        behaviour.forwarded_values = None
        behaviour.min_ttl = behaviour.default_ttl = behaviour.max_ttl = None
    if "Compress" not in config:
        behaviour.compress = False
    behaviour.cache_policy_id = config.get("CachePolicyId") or None
    behaviour.realtime_log_config_arn = config.get("RealtimeLogConfigArn") or None
    behaviour.origin_request_policy_id = config.get("OriginRequestPolicyId") or None
    behaviour.grpc_config = config.get("GrpcConfig") or {"Enabled": False}
    for signers in (behaviour.trusted_signers, behaviour.trusted_key_groups):
        if not signers.items:
            signers.items = None


def _default_cache_behaviour_init_patched(
    self: DefaultCacheBehaviour, config: dict[str, Any]
) -> None:
    """Wraps moto/cloudfront/models.py DefaultCacheBehaviour.__init__.

    moto gives every behaviour `ForwardedValues` and MinTTL/DefaultTTL/MaxTTL = 0, also one with a
    `CachePolicyId`. AWS: "If you want to include values in the cache key, use a cache policy" and
    ForwardedValues/MinTTL/DefaultTTL/MaxTTL are the legacy settings of behaviours without one
    (CacheBehavior reference), so a behaviour with a cache policy reads back without them. Also as
    AWS reads: Compress defaults to false; unset CachePolicyId, RealtimeLogConfigArn and
    OriginRequestPolicyId are absent; GrpcConfig {Enabled: false}; empty TrustedSigners and
    TrustedKeyGroups carry no `Items`.
    """
    _default_cache_behaviour_init(self, config)
    if type(self) is DefaultCacheBehaviour:
        _as_aws_reads_behaviour(self, config)


def _cache_behaviour_init_patched(self: CacheBehaviour, config: dict[str, Any]) -> None:
    """Wraps moto/cloudfront/models.py CacheBehaviour.__init__; same correction as
    DefaultCacheBehaviour (moto also returns OriginRequestPolicyId "" when none was sent)."""
    _cache_behaviour_init(self, config)
    _as_aws_reads_behaviour(self, config)


DefaultCacheBehaviour.__init__ = _default_cache_behaviour_init_patched
CacheBehaviour.__init__ = _cache_behaviour_init_patched


def _viewer_certificate_init(self: ViewerCertificate, config: dict[str, Any]) -> None:
    """Replaces moto/cloudfront/models.py ViewerCertificate.__init__.

    moto reads `CloudFrontDefaultCertificate: true` next to an `ACMCertificateArn`, and fills
    IAMCertificateId "", SSLSupportMethod "sni-only", CertificateSource "cloudfront" regardless.
    AWS: with ACMCertificateArn (or IAMCertificateId) set, CloudFrontDefaultCertificate is false
    ("If the distribution uses Aliases ... set this field to false", ViewerCertificate reference)
    and the certificate reads back with SSLSupportMethod/MinimumProtocolVersion as sent,
    `Certificate` = the ARN/ID and `CertificateSource` acm/iam. The CloudFront default certificate
    reads {CloudFrontDefaultCertificate: true, MinimumProtocolVersion (default TLSv1),
    CertificateSource: cloudfront}.
    """
    acm = config.get("ACMCertificateArn") or None
    iam = config.get("IAMCertificateId") or None
    custom = acm or iam
    self.cloud_front_default_certificate = (
        False if custom else config.get("CloudFrontDefaultCertificate", True)
    )
    self.iam_certificate_id = iam
    self.acm_certificate_arn = acm
    self.ssl_support_method = config.get("SSLSupportMethod") or ("sni-only" if custom else None)
    self.minimum_protocol_version = config.get("MinimumProtocolVersion") or "TLSv1"
    self.certificate = custom
    self.certificate_source = "acm" if acm else "iam" if iam else "cloudfront"


ViewerCertificate.__init__ = _viewer_certificate_init

_distribution_config_init = DistributionConfig.__init__


def _distribution_config_init_patched(self: DistributionConfig, config: dict[str, Any]) -> None:
    """Wraps moto/cloudfront/models.py DistributionConfig.__init__.

    AWS returns `Staging` (false unless a staging distribution) and `ContinuousDeploymentPolicyId`
    ("" when none) in every distribution config; moto omits them.
    """
    _distribution_config_init(self, config)
    self.__dict__.setdefault("Staging", False)
    self.__dict__.setdefault("ContinuousDeploymentPolicyId", "")


DistributionConfig.__init__ = _distribution_config_init_patched
# DistributionSummary (ListDistributions) requires `Staging`; Distribution.__getattr__ forwards
# the names in this list to its DistributionConfig.
_models.DISTRIBUTION_CONFIG_FIELDS.append("Staging")

_distribution_init = Distribution.__init__


def _distribution_init_patched(self: Distribution, *args: Any, **kwargs: Any) -> None:
    """Wraps moto/cloudfront/models.py Distribution.__init__.

    moto reports the fixed LastModifiedTime 2021-11-27T10:34:26.802Z; AWS reports when the
    distribution was created or last updated. Empty ActiveTrustedSigners/ActiveTrustedKeyGroups
    read {Enabled: false, Quantity: 0} without `Items`, as AWS returns them.
    """
    _distribution_init(self, *args, **kwargs)
    self.last_modified_time = utcnow()
    self.active_trusted_signers.items = None
    self.active_trusted_key_groups.items = None


Distribution.__init__ = _distribution_init_patched

# --- Distributions: ETags, IfMatch, deployment status, deletion ------------------------------


def _oac_ids(config: dict[str, Any]) -> list[str]:
    origins = (config.get("Origins") or {}).get("Items") or []
    ids = []
    for origin in origins:
        oac = origin.get("OriginAccessControlId") if isinstance(origin, dict) else None
        if oac:
            ids.append(oac)
    return ids


def _check_oacs(backend: CloudFrontBackend, config: dict[str, Any]) -> None:
    for oac_id in _oac_ids(config):
        if oac_id not in backend.origin_access_controls:
            raise InvalidOriginAccessControl()


def _check_if_match(if_match: str | None, etag: str) -> None:
    if not if_match:
        raise InvalidIfMatchVersion()
    if if_match != etag:
        raise PreconditionFailed()


def _start_deployment(dist: Distribution) -> None:
    # ManagedState (moto/moto_api/_internal/managed_state_model.py): back to the first status of
    # ("InProgress", "Deployed"), with the manual tick count and the time clock restarted, so the
    # configured transition (default: manual, 1 describe; or time, N seconds) runs again.
    dist.status = "InProgress"
    dist._tick = 0
    dist._time_progressed = datetime.now()


_create_distribution_with_tags = CloudFrontBackend.create_distribution_with_tags


def _create_distribution_with_tags_patched(
    self: CloudFrontBackend, distribution_config: dict[str, Any], tags: list[dict[str, str]]
) -> tuple[Distribution, str, str]:
    """Wraps moto/cloudfront/models.py CloudFrontBackend.create_distribution_with_tags.

    moto accepts an origin's OriginAccessControlId that names no origin access control. AWS
    refuses the distribution (InvalidOriginAccessControl, "The origin access control is not
    valid").
    """
    _check_oacs(self, distribution_config)
    return _create_distribution_with_tags(self, distribution_config, tags)


CloudFrontBackend.create_distribution_with_tags = _create_distribution_with_tags_patched


def _update_distribution(
    self: CloudFrontBackend, dist_config: dict[str, Any], _id: str, if_match: str | None
) -> tuple[Distribution, str, str]:
    """Replaces moto/cloudfront/models.py CloudFrontBackend.update_distribution.

    moto accepts any non-empty IfMatch, keeps the ETag, and advances the deployment state (so the
    update already answers Deployed). AWS: IfMatch must be the current ETag, else
    PreconditionFailed (412); each update returns a new ETag ("Note that the ETag value has also
    changed", update-distribution example) and the distribution is InProgress until the change is
    deployed; the CallerReference cannot change (IllegalUpdate).
    """
    if _id is None or _id not in self.distributions:
        raise NoSuchDistribution()
    dist = self.distributions[_id]
    _check_if_match(if_match, dist.etag)
    if not dist_config:
        raise NoSuchDistribution()
    if dist_config.get("CallerReference") != dist.distribution_config.caller_reference:
        raise IllegalUpdate()
    _check_oacs(self, dist_config)
    dist.distribution_config = DistributionConfig(dist_config)
    dist.etag = random_id()
    dist.last_modified_time = utcnow()
    _start_deployment(dist)
    return dist, dist.location, dist.etag


CloudFrontBackend.update_distribution = _update_distribution


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _delete_distribution(
    self: CloudFrontBackend, distribution_id: str, if_match: str | None
) -> None:
    """Replaces moto/cloudfront/models.py CloudFrontBackend.delete_distribution.

    moto deletes any distribution for any non-empty IfMatch. AWS: IfMatch must be the current
    ETag (PreconditionFailed, 412), and "you must disable the distribution ... wait for the
    distribution's status to be Deployed" before deleting, else DistributionNotDisabled (409)
    (DeleteDistribution reference). The distribution's tags go with it.
    """
    if not if_match:
        raise InvalidIfMatchVersion()
    if distribution_id not in self.distributions:
        raise NoSuchDistribution()
    dist = self.distributions[distribution_id]
    _check_if_match(if_match, dist.etag)
    if _is_true(dist.distribution_config.Enabled) or dist.status != "Deployed":
        raise DistributionNotDisabled()
    del self.distributions[distribution_id]
    self.invalidations.pop(distribution_id, None)
    self.tagger.delete_all_tags_for_resource(dist.arn)


CloudFrontBackend.delete_distribution = _delete_distribution

# --- Origin access controls -------------------------------------------------------------------


def _oac_name_taken(backend: CloudFrontBackend, name: Any, other_than: str | None = None) -> bool:
    return any(
        c.name == name and c.id != other_than for c in backend.origin_access_controls.values()
    )


_create_origin_access_control = CloudFrontBackend.create_origin_access_control


def _create_origin_access_control_patched(
    self: CloudFrontBackend, config_dict: dict[str, str]
) -> OriginAccessControl:
    """Wraps moto/cloudfront/models.py CloudFrontBackend.create_origin_access_control.

    moto allows two origin access controls with the same name. AWS refuses a duplicate name with
    OriginAccessControlAlreadyExists (409).
    """
    if _oac_name_taken(self, config_dict.get("Name")):
        raise OriginAccessControlAlreadyExists(str(config_dict.get("Name")))
    return _create_origin_access_control(self, config_dict)


CloudFrontBackend.create_origin_access_control = _create_origin_access_control_patched


def _update_origin_access_control(
    self: CloudFrontBackend, control_id: str, config: dict[str, str], if_match: str | None = None
) -> OriginAccessControl:
    """Replaces moto/cloudfront/models.py CloudFrontBackend.update_origin_access_control.

    moto ignores IfMatch and keeps the ETag. AWS: IfMatch must be the current ETag
    (InvalidIfMatchVersion when missing, PreconditionFailed when stale), the name stays unique
    (OriginAccessControlAlreadyExists), and the update returns a new ETag.
    """
    control = self.get_origin_access_control(control_id)
    _check_if_match(if_match, control.etag)
    if "Name" in config and _oac_name_taken(self, config["Name"], other_than=control_id):
        raise OriginAccessControlAlreadyExists(config["Name"])
    control.update(config)
    control.etag = random_id()
    return control


CloudFrontBackend.update_origin_access_control = _update_origin_access_control


def _delete_origin_access_control(
    self: CloudFrontBackend, control_id: str, if_match: str | None = None
) -> None:
    """Replaces moto/cloudfront/models.py CloudFrontBackend.delete_origin_access_control.

    moto pops the id (an unknown id is a KeyError, answered 500) and ignores IfMatch. AWS: an
    unknown id is NoSuchOriginAccessControl (404); IfMatch must be the current ETag
    (InvalidIfMatchVersion / PreconditionFailed 412); an origin access control that a
    distribution's origin still uses cannot be deleted (OriginAccessControlInUse, 409).
    """
    if control_id not in self.origin_access_controls:
        raise NoSuchOriginAccessControl()
    _check_if_match(if_match, self.origin_access_controls[control_id].etag)
    for dist in self.distributions.values():
        for origin in dist.distribution_config.Origins.get("Items") or []:
            if getattr(origin, "origin_access_control_id", "") == control_id:
                raise OriginAccessControlInUse()
    del self.origin_access_controls[control_id]


CloudFrontBackend.delete_origin_access_control = _delete_origin_access_control


def _oac_location(control: OriginAccessControl) -> str:
    return f"https://cloudfront.amazonaws.com/2020-05-31/origin-access-control/{control.id}"


def _create_origin_access_control_response(self: CloudFrontResponse) -> ActionResult:
    """Replaces moto/cloudfront/responses.py CloudFrontResponse.create_origin_access_control.

    AWS answers 201 with the `Location` header of the new origin access control besides its
    ETag; moto omits Location.
    """
    config = self._get_param("OriginAccessControlConfig", {})
    control = self.backend.create_origin_access_control(config)
    result = {
        "OriginAccessControl": {"Id": control.id, "OriginAccessControlConfig": control},
        "ETag": control.etag,
        "Location": _oac_location(control),
    }
    return ActionResult(result)


def _get_origin_access_control_config_response(self: CloudFrontResponse) -> ActionResult:
    """Adds CloudFrontResponse.get_origin_access_control_config (moto/cloudfront/responses.py).

    moto routes GET /2020-05-31/origin-access-control/{Id}/config but has no handler
    (NotImplementedError, answered 500). AWS returns the OriginAccessControlConfig and the ETag,
    or NoSuchOriginAccessControl (404).
    """
    control = self.backend.get_origin_access_control(self._get_param("Id"))
    return ActionResult({"OriginAccessControlConfig": control, "ETag": control.etag})


def _update_origin_access_control_response(self: CloudFrontResponse) -> ActionResult:
    """Replaces moto/cloudfront/responses.py CloudFrontResponse.update_origin_access_control,
    which does not pass the IfMatch header to the backend."""
    control = self.backend.update_origin_access_control(
        self._get_param("Id"),
        self._get_param("OriginAccessControlConfig", {}),
        self._get_param("IfMatch"),
    )
    result = {
        "OriginAccessControl": {"Id": control.id, "OriginAccessControlConfig": control},
        "ETag": control.etag,
    }
    return ActionResult(result)


def _delete_origin_access_control_response(self: CloudFrontResponse) -> EmptyResult:
    """Replaces moto/cloudfront/responses.py CloudFrontResponse.delete_origin_access_control,
    which does not pass the IfMatch header to the backend."""
    self.backend.delete_origin_access_control(self._get_param("Id"), self._get_param("IfMatch"))
    return EmptyResult()


CloudFrontResponse.create_origin_access_control = _create_origin_access_control_response
CloudFrontResponse.get_origin_access_control_config = _get_origin_access_control_config_response
CloudFrontResponse.update_origin_access_control = _update_origin_access_control_response
CloudFrontResponse.delete_origin_access_control = _delete_origin_access_control_response
