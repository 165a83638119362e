"""Route 53: change batches as AWS validates them, changes that propagate, and the user's zones.

1. ChangeResourceRecordSets (replaces moto/route53/models.py Route53Backend.change_resource_record_sets).
   AWS: "Change batches are considered transactional changes. Route 53 validates the changes in
   the request and then either makes all or none of the changes"; CREATE "returns an error if a
   resource record set exists with the same name and type"; "To delete a resource record set, you
   must specify all the same values that you specified when you created it" (ChangeResourceRecordSets
   API reference; errors are InvalidChangeBatch: "Tried to create resource record set ... but it
   already exists", "Tried to delete resource record set ... but it was not found", "... but the
   values provided do not match the current values"). moto only refuses a CREATE that repeats an
   identical earlier change, checks a DELETE against its journal of past changes rather than the
   record's current values, deletes every record of that name and type whatever the values, and
   matches zone names by suffix (`notexample.com` in `example.com`). Here each change is checked
   against the zone's current records (as earlier changes of the same batch leave them), names
   label-wise, and nothing is applied unless every change is valid.

2. Propagation (replaces moto/route53/responses.py Route53.change_resource_record_sets and
   get_change). AWS answers a change with Status PENDING and a change id of its own, and GetChange
   reports INSYNC once every Route 53 server has it ("typically within 60 seconds"); an unknown id
   is NoSuchChange. moto says INSYNC at once with one fixed id. Here a change is PENDING for
   MOTO_ROUTE53_PROPAGATION_SECONDS (default 2) after it was made.

3. Account fixture: POST /webstack/hosted-zones {"id": ..., "name": ..., "private": false} creates
   the hosted zone with that id (moto's create_hosted_zone, then re-keyed), as the user's account
   holds the zone a manifest names before the manifest is applied (Route 53 assigns zone ids, so a
   test cannot create one with the example's id otherwise).
"""

import copy
import json
import os
import time
import uuid
from typing import Any

from moto.core.responses import ActionResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.route53 import responses as route53_responses
from moto.route53.exceptions import InvalidActionValue, Route53ClientError
from moto.route53.models import Route53Backend, route53_backends


class _InvalidChangeBatch(Route53ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidChangeBatch", message)


class _NoSuchChange(Route53ClientError):
    def __init__(self, change_id: str):
        super().__init__("NoSuchChange", f"A change with the specified change ID does not exist: {change_id}")


def _norm(name: str) -> str:
    return name.strip(".").lower()


def _key(rrset: dict[str, Any]) -> tuple[str, str, Any]:
    return (_norm(rrset["Name"]), rrset["Type"], rrset.get("SetIdentifier"))


def _values(rrset: dict[str, Any]) -> tuple[Any, ...]:
    """What must match for a DELETE: TTL, record values, alias target."""
    records = rrset.get("ResourceRecords") or []
    values = sorted(r["Value"] if isinstance(r, dict) else r for r in records)
    alias = rrset.get("AliasTarget")
    alias_key = None
    if alias:
        alias_key = (
            alias.get("HostedZoneId"),
            _norm(alias.get("DNSName", "")),
            str(alias.get("EvaluateTargetHealth", False)).lower(),
        )
    ttl = rrset.get("TTL")
    return (None if ttl is None else str(ttl), tuple(values), alias_key)


def _stored(rs: Any) -> dict[str, Any]:
    """A stored RecordSet as a change's ResourceRecordSet."""
    out: dict[str, Any] = {"Name": rs.name, "Type": rs.type}
    if rs.set_identifier is not None:
        out["SetIdentifier"] = rs.set_identifier
    if rs.ttl is not None:
        out["TTL"] = rs.ttl
    if rs.records:
        out["ResourceRecords"] = list(rs.records)
    if rs.alias_target:
        out["AliasTarget"] = rs.alias_target
    return out


def change_resource_record_sets(self: Route53Backend, zoneid: str, change_list: list[dict[str, Any]]) -> None:
    the_zone = self.get_hosted_zone(zoneid)
    zone_name = _norm(the_zone.name)
    state = {_key(s): _values(s) for s in (_stored(rs) for rs in the_zone.rrsets)}
    for change in change_list:
        action = change["Action"]
        if action not in ("CREATE", "UPSERT", "DELETE"):
            raise InvalidActionValue(action)
        rrset = change["ResourceRecordSet"]
        name = _norm(rrset["Name"])
        if name != zone_name and not name.endswith("." + zone_name):
            raise _InvalidChangeBatch(f"RRSet with DNS name {rrset['Name']} is not permitted in zone {the_zone.name}")
        key, shown = _key(rrset), f"[name='{name}.', type='{rrset['Type']}']"
        if action == "CREATE":
            if key in state:
                raise _InvalidChangeBatch(f"Tried to create resource record set {shown} but it already exists")
            state[key] = _values(rrset)
        elif action == "UPSERT":
            state[key] = _values(rrset)
        else:
            if key not in state:
                raise _InvalidChangeBatch(f"Tried to delete resource record set {shown} but it was not found")
            if state[key] != _values(rrset):
                raise _InvalidChangeBatch(
                    f"Tried to delete resource record set {shown} but the values provided do not match the current values"
                )
            del state[key]
    # Every change is valid: apply them all, as moto stores records.
    for change in change_list:
        original = copy.deepcopy(change)
        rrset = change["ResourceRecordSet"]
        if not rrset["Name"].endswith("."):
            rrset["Name"] += "."
        if "ResourceRecords" in rrset:
            rrset["ResourceRecords"] = [r["Value"] if isinstance(r, dict) else r for r in rrset["ResourceRecords"]]
        key = _key(rrset)
        the_zone.rrsets = [rs for rs in the_zone.rrsets if _key(_stored(rs)) != key]
        if change["Action"] in ("CREATE", "UPSERT"):
            the_zone.add_rrset(rrset)
        the_zone.rr_changes.append(original)


Route53Backend.change_resource_record_sets = change_resource_record_sets

# Change id -> when it was made.
_CHANGES: dict[str, float] = {}


def _propagation() -> float:
    return float(os.environ.get("MOTO_ROUTE53_PROPAGATION_SECONDS", "2"))


def _change_info(change_id: str) -> dict[str, Any]:
    made = _CHANGES[change_id]
    status = "INSYNC" if time.time() - made >= _propagation() else "PENDING"
    return {"Id": change_id, "Status": status, "SubmittedAt": route53_responses.utcnow()}


_previous_change = route53_responses.Route53.change_resource_record_sets


def _respond_change(self: Any) -> ActionResult:
    _previous_change(self)  # validates and applies (raises on an invalid batch)
    change_id = "/change/C" + uuid.uuid4().hex[:12].upper()
    _CHANGES[change_id] = time.time()
    return ActionResult({"ChangeInfo": _change_info(change_id)})


def _respond_get_change(self: Any) -> ActionResult:
    change_id = self._get_param("Id")
    if not change_id.startswith("/change/"):
        change_id = "/change/" + change_id
    if change_id not in _CHANGES:
        raise _NoSuchChange(change_id)
    return ActionResult({"ChangeInfo": _change_info(change_id)})


route53_responses.Route53.change_resource_record_sets = _respond_change
route53_responses.Route53.get_change = _respond_get_change

_previous_call = DomainDispatcherApplication.__call__


def _call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
    if environ.get("PATH_INFO") == "/webstack/hosted-zones" and environ.get("REQUEST_METHOD") == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        account = request.get("account", "123456789012")
        backend = route53_backends[account]["aws"]
        zone = backend.create_hosted_zone(request["name"], private_zone=bool(request.get("private", False)))
        del backend.zones[zone.resource_id]
        zone.resource_id = request["id"]
        backend.zones[zone.resource_id] = zone
        body = json.dumps({"id": zone.id}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    return _previous_call(self, environ, start_response)


DomainDispatcherApplication.__call__ = _call
