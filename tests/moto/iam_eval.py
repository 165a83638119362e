"""IAM policy evaluation under moto's enforcement (imported by server.py, which it patches on import).

moto 5.2.5 authorizes every non-S3 request against the resource `*` and evaluates no condition but
`StringEquals` on `sts:AssumeRole*` (moto/iam/access_control.py `IAMPolicyStatement`,
moto/core/authorization.py `_authenticate_and_authorize_normal_action(resource="*")`). This module
authorizes each request the way AWS does, for the policies this project ships:

- `iam_requests.py` turns the request into the authorizations AWS performs: one IAM action, one
  resource ARN and the request context per resource (the Service Authorization Reference lists,
  per action, the resource types checked and the condition keys of each), dependent actions
  included (ec2:CreateTags with ec2:CreateAction when tags are given on create, iam:PassRole...).
- This module evaluates the principal's identity policies per "Policy evaluation logic" (IAM User
  Guide): an explicit Deny wins, then an Allow, else the implicit deny; Action/NotAction,
  Resource/NotResource, condition operators, set qualifiers, IfExists and policy variables.

What it cannot evaluate is refused, never allowed silently: a statement whose condition uses an
unknown operator or key does not grant (an Allow) and applies (a Deny); an operation whose
resources it cannot compute is denied. Each refusal writes one `iam_eval:` line to stderr.
Not modelled: permissions boundaries, session policies, SCPs, resource-based policies other than
role trust policies (S3 bucket policies are not consulted).
"""

from __future__ import annotations

import json
import re
import sys
import threading
from dataclasses import dataclass, field

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.iam.access_control import IAMPolicy, IAMRequestBase, IAMUserAccessKey, S3IAMRequest
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException

_current = threading.local()


def log(message: str) -> None:
    """One line to stderr: refusals and gaps are visible in the emulator's log."""
    print(f"iam_eval: {message}", file=sys.stderr, flush=True)


@dataclass
class Authorization:
    """One check AWS performs for a request: an IAM action on one resource, with its request context.

    `context` maps condition keys (lower-case) to lists of values. `unknown` names why the
    resource or context could not be computed (the authorization is then refused).
    """

    action: str
    resource: str
    context: dict = field(default_factory=dict)
    unknown: str | None = None


# Condition keys whose value is a set ("multivalued context keys", IAM User Guide).
MULTIVALUED = {
    "aws:tagkeys",
    "route53:changeresourcerecordsetsrecordtypes",
    "route53:changeresourcerecordsetsnormalizedrecordnames",
    "route53:changeresourcerecordsetsactions",
}

# Keys this evaluator computes when AWS provides them (absent from a request: AWS's "missing key").
KNOWN_KEYS = {
    "aws:tagkeys", "aws:principalarn", "aws:principalaccount", "aws:requestedregion", "aws:username",
    "aws:principaltype",
    "ec2:createaction", "ecs:createaction", "elasticloadbalancing:createaction", "ec2:launchtemplate",
    "iam:passedtoservice", "iam:awsservicename", "iam:policyarn",
    "application-autoscaling:service-namespace",
    "route53:changeresourcerecordsetsrecordtypes", "route53:changeresourcerecordsetsactions",
    "route53:changeresourcerecordsetsnormalizedrecordnames", "application-autoscaling:scalable-dimension",
}
KNOWN_PREFIXES = ("aws:requesttag/", "aws:resourcetag/", "aws:principaltag/")

STRING_OPS = {
    "stringequals": (False, False, False), "stringnotequals": (True, False, False),
    "stringequalsignorecase": (False, False, True), "stringnotequalsignorecase": (True, False, True),
    "stringlike": (False, True, False), "stringnotlike": (True, True, False),
    # ARN operators: matched per ARN component by _arn_matches_any.
    "arnequals": (False, True, False), "arnlike": (False, True, False),
    "arnnotequals": (True, True, False), "arnnotlike": (True, True, False),
}


class Unevaluable(Exception):
    """A condition the evaluator does not know how to evaluate."""


def _key_known(key: str) -> bool:
    return key in KNOWN_KEYS or key.startswith(KNOWN_PREFIXES)


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _glob(pattern: str, context: dict, ignore_case: bool, wildcards: bool = True) -> re.Pattern | None:
    """A policy string as a regular expression: `*` and `?` wildcards, policy variables replaced.

    "IAM policy elements: Variables and tags": `${key}` takes the request context's value of key,
    `${key, 'default'}` a default when it is absent, `${*}` `${?}` `${$}` the literal characters.
    A variable without value and without default makes the string match nothing (None).
    The substituted values are literal (their `*` is no wildcard).
    """
    out = []
    pos = 0
    for m in _VARIABLE.finditer(pattern):
        out.append(_wild(pattern[pos:m.start()], wildcards))
        inner = m.group(1).strip()
        if inner in ("*", "?", "$"):
            out.append(re.escape(inner))
        else:
            name, _, default = inner.partition(",")
            name = name.strip().lower()
            values = context.get(name)
            if values and len(values) == 1:
                out.append(re.escape(values[0]))
            elif default.strip():
                out.append(re.escape(default.strip().strip("'")))
            else:
                return None
        pos = m.end()
    out.append(_wild(pattern[pos:], wildcards))
    return re.compile("^" + "".join(out) + "$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _wild(text: str, wildcards: bool) -> str:
    if not wildcards:
        return re.escape(text)
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _matches_any(patterns, value: str, context: dict, ignore_case: bool, wildcards: bool = True) -> bool:
    for p in _as_list(patterns):
        rx = _glob(str(p), context, ignore_case, wildcards)
        if rx is not None and rx.match(value):
            return True
    return False


def _arn_matches_any(patterns, value: str, context: dict) -> bool:
    """ArnEquals / ArnLike (alike): "each of the six colon-delimited components of the ARN is
    checked separately and each can include multi-character match wildcards (*) or
    single-character match wildcards (?)" ("Amazon Resource Name (ARN) condition operators")."""
    parts = value.split(":", 5)
    for p in _as_list(patterns):
        pp = str(p).split(":", 5)
        if len(pp) == len(parts) == 6 and all(_matches_any(a, b, context, False) for a, b in zip(pp, parts)):
            return True
    return False


def _condition_holds(operator: str, key: str, expected, context: dict) -> bool:
    """One key of one condition operator ("IAM JSON policy elements: Condition operators").

    Values of one key are ORed. A missing key makes a positive operator false and a negated one
    (StringNot*, ArnNot*) true; `...IfExists` is true when the key is missing; `Null` tests
    presence. With `ForAllValues:` every request value must match a policy value (true when the
    key is missing or empty); with `ForAnyValue:` at least one must (false when missing)
    ("Multivalued context keys").
    """
    op = operator.lower()
    qualifier = None
    if op.startswith("forallvalues:") or op.startswith("foranyvalue:"):
        qualifier, _, op = op.partition(":")
    if_exists = op.endswith("ifexists")
    if if_exists:
        op = op[: -len("ifexists")]
    key_l = key.lower()
    if not _key_known(key_l):
        raise Unevaluable(f"condition key {key}")
    values = context.get(key_l)
    present = values is not None and (len(values) > 0 or key_l not in MULTIVALUED)
    if op == "null":
        if qualifier or if_exists:
            raise Unevaluable(f"operator {operator}")
        return any((str(e).lower() == "true") == (not present) for e in _as_list(expected))
    if op == "bool":
        matches = lambda v: any(str(e).lower() == str(v).lower() for e in _as_list(expected))  # noqa: E731
        negated = False
    elif op in STRING_OPS:
        negated, wildcards, ignore_case = STRING_OPS[op]
        if op.startswith("arn"):
            matches = lambda v: _arn_matches_any(expected, v, context)  # noqa: E731
        else:
            matches = lambda v: _matches_any(expected, v, context, ignore_case, wildcards)  # noqa: E731
    else:
        raise Unevaluable(f"operator {operator}")
    if qualifier == "forallvalues":
        if not present:
            return True
        return all((not matches(v)) if negated else matches(v) for v in values)
    if not present:
        if if_exists:
            return True
        return negated and qualifier is None
    if qualifier == "foranyvalue":
        return any((not matches(v)) if negated else matches(v) for v in values)
    if negated:
        return not any(matches(v) for v in values)
    return any(matches(v) for v in values)


def statement_applies(statement: dict, auth: Authorization, context: dict) -> bool:
    """Whether a statement applies to one authorization: action, resource and every condition.

    Actions match case-insensitively, resources case-sensitively, both with `*` and `?`
    ("IAM JSON policy elements: Action, NotAction, Resource, NotResource"). Condition operators
    are ANDed, and the keys within one operator too. A condition the evaluator cannot evaluate
    raises Unevaluable.
    """
    if "NotAction" in statement:
        if _matches_any(statement["NotAction"], auth.action, {}, True, True):
            return False
    elif not _matches_any(statement.get("Action", []), auth.action, {}, True, True):
        return False
    if "NotResource" in statement:
        if _matches_any(statement["NotResource"], auth.resource, context, False):
            return False
    elif "Resource" in statement:
        if not _matches_any(statement["Resource"], auth.resource, context, False):
            return False
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def decide(documents: list[dict], auth: Authorization, context: dict) -> tuple[str, str | None]:
    """"Policy evaluation logic" for identity-based policies: ("Deny"|"Allow"|"ImplicitDeny", sid).

    An explicit Deny in any statement wins, else any Allow allows, else the request is implicitly
    denied. A statement whose condition is unevaluable is logged and treated fail-closed: an
    Allow grants nothing, a Deny applies.
    """
    allowed_by = None
    for doc in documents:
        for st in _as_list(doc.get("Statement", [])):
            try:
                applies = statement_applies(st, auth, context)
            except Unevaluable as e:
                log(f"{auth.action} on {auth.resource}: statement {st.get('Sid', '?')} has {e}, which this "
                    f"evaluator cannot evaluate: treated as {'not granting' if st.get('Effect') == 'Allow' else 'denying'}")
                applies = st.get("Effect") == "Deny"
            if applies and st.get("Effect") == "Deny":
                return "Deny", st.get("Sid")
            if applies and st.get("Effect") == "Allow" and allowed_by is None:
                allowed_by = st.get("Sid") or "(no Sid)"
    return ("Allow", allowed_by) if allowed_by else ("ImplicitDeny", None)


# --- The principal ---------------------------------------------------------------------------

def _tag_dict(tags) -> dict:
    """Tags of any moto shape as {key: value}: a dict, {k: {Key, Value}}, a list of {Key, Value} or
    {key, value}, or a response {"Tags"|"TagList": [...]}."""
    if not tags:
        return {}
    if isinstance(tags, dict):
        for wrap in ("Tags", "TagList", "tags"):
            if wrap in tags and isinstance(tags[wrap], (list, dict)):
                return _tag_dict(tags[wrap])
        if "Items" in tags:
            return _tag_dict(tags["Items"])
        out = {}
        for k, v in tags.items():
            out[str(k)] = v.get("Value", "") if isinstance(v, dict) else ("" if v is None else str(v))
        return out
    out = {}
    for t in tags:
        if isinstance(t, dict):
            k = t.get("Key", t.get("key"))
            v = t.get("Value", t.get("value"))
            if k is not None:
                out[k] = "" if v is None else v
    return out


def principal_context(access_key, region: str) -> tuple[dict, list[dict], str]:
    """The principal's context keys ("AWS global condition context keys": aws:PrincipalArn,
    aws:PrincipalAccount, aws:PrincipalTag/*, aws:username for users) and its policy documents.

    An assumed role's principal tags are its session tags over the role's tags ("Passing session
    tags in AWS STS": session tags override role tags with the same key).
    """
    ctx = {"aws:requestedregion": [region], "aws:principalaccount": [access_key.account_id]}
    docs = [IAMPolicy(p)._policy_json for p in access_key.collect_policies()]
    backend = iam_backends[access_key.account_id][access_key.partition]
    if isinstance(access_key, IAMUserAccessKey):
        user = backend.get_user(access_key._owner_user_name)
        arn = access_key.arn
        tags = _tag_dict(getattr(user, "tags", None))
        ctx["aws:username"] = [user.name]
        ctx["aws:principaltype"] = ["User"]
    else:
        arn = f"arn:{access_key.partition}:iam::{access_key.account_id}:role/{access_key._owner_role_name}"
        try:
            tags = _tag_dict(backend.get_role(access_key._owner_role_name).tags)
        except Exception:
            tags = {}
        session = next((r for r in sts_backends[access_key.account_id][access_key.partition].assumed_roles
                        if r.access_key_id == access_key._access_key_id), None)
        tags.update(getattr(session, "session_tags", {}) or {})
        ctx["aws:principaltype"] = ["AssumedRole"]
    ctx["aws:principalarn"] = [arn]
    for k, v in tags.items():
        ctx["aws:principaltag/" + k.lower()] = [v]
    return ctx, docs, arn


def _lower_keys(context: dict) -> dict:
    """Condition key names are case-insensitive ("Condition element"): the context is looked up by
    lower-case names, tag keys included (aws:RequestTag/<key> matches keys case-insensitively)."""
    return {k.lower(): v for k, v in context.items()}


# --- Role trust policies ---------------------------------------------------------------------

def _principal_named(statement: dict, principal_arn: str, session_arn: str, account: str) -> tuple[bool, bool]:
    """(matches, names the principal itself) for a trust policy statement's Principal element."""
    p = statement.get("Principal")
    if p == "*":
        return True, False
    if not isinstance(p, dict):
        return False, False
    for entry in _as_list(p.get("AWS", [])):
        if entry == "*":
            return True, False
        if entry in (account, f"arn:aws:iam::{account}:root"):
            return True, False
        if entry in (principal_arn, session_arn):
            return True, True
    return False, False


def trust_allows(role, auth: Authorization, context: dict, principal_arn: str, session_arn: str,
                 account: str) -> tuple[bool, bool]:
    """A role's trust policy for sts:AssumeRole / sts:TagSession: (allowed, names the principal).

    "Policy evaluation logic", cross-checked with "How IAM roles differ from resource-based
    policies": the trust policy must allow the principal; within one account an identity policy
    Allow is also needed unless the trust policy names the principal's ARN itself.
    """
    doc = json.loads(role.assume_role_policy_document) if isinstance(role.assume_role_policy_document, str) \
        else role.assume_role_policy_document
    allowed, named = False, False
    for st in _as_list(doc.get("Statement", [])):
        ok, direct = _principal_named(st, principal_arn, session_arn, account)
        if not ok:
            continue
        st = dict(st)
        st.pop("Principal", None)
        st.setdefault("Resource", "*")
        try:
            applies = statement_applies(st, auth, context)
        except Unevaluable as e:
            log(f"{auth.action} on {auth.resource}: trust policy statement has {e}: treated fail-closed")
            applies = st.get("Effect") == "Deny"
        if applies and st.get("Effect") == "Deny":
            return False, False
        if applies and st.get("Effect") == "Allow":
            allowed, named = True, named or direct
    return allowed, named


# --- Denials in each service's shape ---------------------------------------------------------

# The access-denied error code of each service (each API reference's "Common Errors").
DENIED_CODES = {"ec2": "UnauthorizedOperation", "sns": "AuthorizationError"}
JSON_SERVICES = {"ecs", "logs", "secretsmanager", "ecr", "application-autoscaling", "ssm", "events"}


class _Denied(HTTPException):
    """An access denial already serialized in the service's protocol (moto's serializer)."""

    def __init__(self, code: int, body: str):
        super().__init__()
        self.code = code
        self.description = body


def deny(response, iam_request, auth: Authorization, explicit: bool):
    """Raises the service's access-denied error, AWS's message naming the action and resource.

    EC2 answers UnauthorizedOperation, SNS AuthorizationError, JSON services
    AccessDeniedException, the others AccessDenied (each API reference's "Common Errors");
    serialized by moto's own serializer for the request's protocol. S3 keeps moto's S3 errors
    (S3IAMRequest._raise_access_denied).
    """
    why = ("with an explicit deny in an identity-based policy" if explicit
           else f"because no identity-based policy allows the {auth.action} action")
    message = f"User: {iam_request._access_key.arn} is not authorized to perform: {auth.action} on resource: {auth.resource} {why}"
    if isinstance(iam_request, S3IAMRequest):
        iam_request._raise_access_denied()
    service = iam_request._service
    if service == "ec2":
        message = "You are not authorized to perform this operation. " + message
    code = DENIED_CODES.get(service) or ("AccessDeniedException" if service in JSON_SERVICES else "AccessDenied")
    content_type = (getattr(response, "headers", {}) or {}).get("Content-Type", "")
    if "cbor" in content_type:
        # Smithy RPC v2 CBOR (CloudWatch): a map {__type, message}; awsQueryCompatible services
        # also name the query error code in x-amzn-query-error.
        response.response_headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor",
                                          "x-amzn-query-error": f"{code};Sender"})
        raise _Denied(403, _cbor_map({"__type": code, "message": message}))
    if service == "sqs" and "json" in content_type:
        # SQS's JSON protocol is awsQueryCompatible: the query error code in x-amzn-query-error
        # (moto's generic denial is XML, which the SDKs cannot read on this protocol).
        body = json.dumps({"__type": "com.amazonaws.sqs#AccessDenied", "message": message})
        response.response_headers.update({"Content-Type": "application/x-amz-json-1.0",
                                          "x-amzn-query-error": "AccessDenied;Sender"})
        raise _Denied(400, body)
    if service == "monitoring" and "json" in content_type:
        body = json.dumps({"__type": code, "message": message})
        response.response_headers.update({"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{code};Sender"})
        raise _Denied(403, body)
    if service in JSON_SERVICES:
        body = json.dumps({"__type": code, "message": message})
        response.response_headers.update({"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code})
        raise _Denied(400, body)
    esc = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if service == "ec2":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{esc}</Message></Error></Errors><RequestID>iam-eval</RequestID></Response>")
    else:
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{esc}</Message></Error><RequestId>iam-eval</RequestId></ErrorResponse>")
    response.response_headers.update({"Content-Type": "text/xml", "x-amzn-ErrorType": code})
    raise _Denied(403, body)


def _cbor_map(fields: dict) -> bytes:
    """A CBOR (RFC 8949) map of text strings: the error body of the Smithy RPC v2 CBOR protocol."""
    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")

    out = head(5, len(fields))
    for k, v in fields.items():
        for t in (k, v):
            b = t.encode()
            out += head(3, len(b)) + b
    return out


# --- The hook --------------------------------------------------------------------------------

_original_authenticate = ActionAuthenticatorMixin._authenticate_and_authorize_action


def _authenticate_and_authorize_action(self, iam_request_cls: type, resource: str = "*") -> None:
    """Wraps moto/core/authorization.py ActionAuthenticatorMixin._authenticate_and_authorize_action.

    Unchanged: moto resolves the access key (InvalidClientTokenId for an unknown one) and counts
    requests before enforcement starts. Added: the response object (the parsed request, its
    region and account) is kept for check_action_permitted below, which moto calls with only a
    resource string.
    """
    _current.response = self
    try:
        return _original_authenticate(self, iam_request_cls, resource)
    finally:
        _current.response = None


def check_action_permitted(self: IAMRequestBase, resource: str) -> None:
    """Replaces moto/iam/access_control.py IAMRequestBase.check_action_permitted.

    moto checks one action name against `resource` (`*` for every service but S3 and a few IAM
    and STS calls) and ignores conditions. Here the request becomes the authorizations AWS
    performs (iam_requests.authorizations) and each is evaluated ("Policy evaluation logic");
    the first one denied is answered with the service's access-denied error. As on AWS,
    sts:GetCallerIdentity needs no permission.
    """
    import iam_requests

    response = getattr(_current, "response", None)
    if self._action.lower() == "sts:getcalleridentity" or response is None:
        return
    principal_ctx, documents, principal_arn = principal_context(self._access_key, self._region)
    try:
        auths = iam_requests.authorizations(response, self, resource)
    except Exception as e:  # a request shape the facts code does not know
        auths = [Authorization(self._action, "*", unknown=f"facts failed: {type(e).__name__}: {e}")]
    for auth in auths:
        if auth.unknown:
            if not _granted_whatever_the_resource(documents, auth):
                log(f"{auth.action}: refused, {auth.unknown}")
                deny(response, self, auth, explicit=False)
            continue
        context = _lower_keys({**principal_ctx, **auth.context})
        verdict, sid = decide(documents, auth, context)
        if auth.action.lower() in ("sts:assumerole", "sts:tagsession") and verdict != "Deny":
            role = _role_by_arn(self, auth.resource)
            if role is None:
                verdict = "ImplicitDeny" if verdict != "Allow" else verdict
            else:
                session_arn = self._access_key.arn
                trusted, named = trust_allows(role, auth, context, principal_arn, session_arn, self.account_id)
                if not trusted:
                    verdict = "ImplicitDeny"
                elif named:
                    verdict = "Allow"
        if verdict != "Allow":
            deny(response, self, auth, explicit=verdict == "Deny")


def _granted_whatever_the_resource(documents: list[dict], auth: Authorization) -> bool:
    """For a request whose resource or context is unknown: allowed only by a statement that
    needs neither (Allow, Resource "*", no Condition: e.g. an administrator's Action * Resource *),
    and only when no Deny statement names the action (fail-closed)."""
    granted = False
    for doc in documents:
        for st in _as_list(doc.get("Statement", [])):
            if not _matches_any(st.get("Action", []), auth.action, {}, True) or "NotAction" in st:
                continue
            if st.get("Effect") == "Deny":
                return False
            if st.get("Resource") in ("*", ["*"]) and not st.get("Condition"):
                granted = True
    return granted


def _role_by_arn(iam_request, arn: str):
    try:
        return iam_request.backend.get_role_by_arn(arn)
    except Exception:
        return None


ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action
IAMRequestBase.check_action_permitted = check_action_permitted


# --- Session tags ----------------------------------------------------------------------------

_original_assume_role = TokenResponse.assume_role


def _assume_role(self):
    """Wraps moto/sts/responses.py TokenResponse.assume_role: moto drops the session tags
    (`Tags.member.N`); AWS makes them the session's principal tags ("Passing session tags in AWS
    STS"). They are kept on moto's AssumedRole as `session_tags` for aws:PrincipalTag/*."""
    backend = sts_backends[self.current_account][self.partition]
    before = len(backend.assumed_roles)
    result = _original_assume_role(self)
    tags = {}
    for k, v in self.querystring.items():
        m = re.match(r"^Tags\.member\.(\d+)\.Key$", k)
        if m:
            tags[v[0]] = (self.querystring.get(f"Tags.member.{m.group(1)}.Value") or [""])[0]
    if len(backend.assumed_roles) > before:
        backend.assumed_roles[-1].session_tags = tags
    return result


TokenResponse.assume_role = _assume_role

