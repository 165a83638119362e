"""Fault injection for this project's tests (moto has none; EMULATOR.md, "Fault injection").

POST /webstack/faults with a JSON object {"<Action>": {"status": 403, "code": "AccessDenied"}}
makes every later request for that action fail with that status and error code, in the error
format of the action's protocol, until the faults are replaced (POST {} clears them). GET
/webstack/faults answers {"faults": [...], "injected": {"<Action>": n}, "seen": {"<second>": n},
"now": <second>, "token": ...}:
how many requests each fault has failed (the recorder never sees them, as AWS never acts on
them), and how many AWS requests arrived in each second of the server's monotonic clock (faulted
or not: the rate at which a client calls), and the server's WEBSTACK_MOTO_TOKEN (the harness
tells its own emulator from another process that took the port). Actions are the operation names the SDKs use
(`DescribeVpcs`, `PutBucketTagging`, `ChangeResourceRecordSets`); `"*"` is every action no entry
of its own names.

A fault may fail only a share of the requests, and may delay them: {"rate": 0.3} fails 30% of
them (drawn from a generator seeded by the POST's "seed", default 0, so a run can be repeated),
{"delay": 0.2} answers each request 0.2 s later (a delay alone fails nothing: the request then
reaches moto). An action may name a list of faults, drawn against one number: [{"rate": 0.3,
"status": 400, "code": "Throttling"}, {"rate": 0.05, "status": 503, "code": "ServiceUnavailable"}]
throttles 30% and fails 5% more with 503. {"throttle": true} instead of a status and code throttles
in the words of the request's protocol (`THROTTLES`): EC2 503 RequestLimitExceeded (EC2 API
Reference, "Request throttling"), S3 503 SlowDown (S3 API Reference, "Error responses"), JSON and
CBOR 400 ThrottlingException, query, CloudFront and Route 53 400 Throttling. A faulted request is
counted in "injected" under its own action name.

{"reset": true} answers nothing: the server shuts the connection down (both ways, so the client
reads the end of the stream where the answer should be; the socket is then closed with a zero
linger, an RST) and the client sees a connection error, as after a reset or a dropped
connection on the way to AWS. With "after": true the request reaches moto first and only its
answer is lost: AWS acted, the client does not know it (a create retried then finds what it made,
or makes a second one: a retry must be idempotent, or be checked by reading back). Only "after"
faults reach the recorder. {"times": n} on a fault fails only the first n requests it is drawn
for (then it fails nothing).
The action is read as the recorder reads it: X-Amz-Target for JSON protocols, the path
`/service/<service>/operation/<Action>` for Smithy RPC v2 CBOR, Action= in the form body for
query protocols; the REST services (S3, CloudFront, Route 53, told by the SigV4 credential scope's
service) name no action, so it is found by matching the method, path and query string against the
operations' HTTP bindings in botocore's service models (`_rest_actions`). Imported by server.py.

Each protocol's own error shape (what the SDK parses into the error's code): JSON services
(X-Amz-Target) `{"__type": code, "message": ...}` with x-amzn-ErrorType; the query protocols
(Action= in the form body) `<ErrorResponse><Error><Type>Sender</Type><Code>`; EC2, a query
protocol with its own shape (EC2 API Reference, "Error codes": `<Response><Errors><Error><Code>`
with `<RequestID>`), told by the SigV4 credential scope's service `ec2`; CloudWatch over Smithy RPC
v2 CBOR (`/service/GraniteServiceVersion20100801/operation/<Action>`, the Rust SDK's protocol), a
CBOR map with `__type` and `message` and the header smithy-protocol: rpc-v2-cbor; S3 (restXml
without error wrapping; S3 API Reference, "Error responses", REST error responses) an unwrapped
`<Error><Code><Message><RequestId>` with Content-Type application/xml, x-amz-request-id and
x-amz-id-2, and for HEAD requests the status alone, no body, as S3 answers them; CloudFront and
Route 53 (restXml; CloudFront Developer Guide, "REST Responses", and Route 53 API Reference,
"REST Responses", "Error Responses") `<ErrorResponse xmlns=...><Error><Type>Sender</Type><Code>
<Message></Error><RequestId>` in the service's namespace, with Content-Type application/xml.
"""

import io
import json
import os
import random
import re
import socket
import struct
import time
from functools import cache
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import botocore.session
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.s3.responses import S3Response
from moto.s3.utils import bucket_name_from_url

FAULTS: dict[str, Any] = {}
INJECTED: dict[str, int] = {}
SEEN: dict[int, int] = {}
DRAW = random.Random(0)

# Each protocol's throttling answer: (HTTP status, error code).
THROTTLES = {
    "ec2": (503, "RequestLimitExceeded"),
    "s3": (503, "SlowDown"),
    "json": (400, "ThrottlingException"),
    "cbor": (400, "ThrottlingException"),
}

# The REST services by their SigV4 signing name, with the XML namespace of their errors (S3's
# errors have none): CloudFront API version 2020-05-31, Route 53 API version 2013-04-01.
REST_NAMESPACES = {
    "s3": None,
    "cloudfront": "http://cloudfront.amazonaws.com/doc/2020-05-31/",
    "route53": "https://route53.amazonaws.com/doc/2013-04-01/",
}

# An operation's HTTP binding (`_routes`): method, path pattern, literal query parameters, required
# query-string and header members, specificity, name.
Route = tuple[str, re.Pattern[str], dict[str, str | None], list[tuple[str, str]], tuple[int, bool], str]

_original_call = DomainDispatcherApplication.__call__


def _scope(environ: dict[str, Any]) -> list[str]:
    """The SigV4 credential scope, `<key>/<date>/<region>/<service>/aws4_request`, split on `/`.

    From the Authorization header (`Credential=<scope>, SignedHeaders=...`), else from the
    X-Amz-Credential parameter of a presigned URL (SigV4, "Authentication methods").
    """
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    if "Credential=" in auth:
        return auth.split("Credential=", 1)[-1].split(",")[0].strip().split("/")
    query = parse_qs(environ.get("QUERY_STRING") or "")
    return (query.get("X-Amz-Credential") or [""])[0].split("/")


@cache
def _routes(service: str) -> list[Route]:
    """Every operation of a REST service with its HTTP binding, from botocore's service model.

    Per operation: the method (`http.method`); the path of `http.requestUri` as a pattern, `{Name}`
    matching one path segment and `{Name+}` (a greedy label) the rest of the path, a trailing `/`
    optional (Route 53's `/2013-04-01/hostedzone/{Id}/rrset/`); the literal query of the
    requestUri, S3's sub-resources (`?tagging`, `?list-type=2`, `?select&select-type=2`) and
    CloudFront's (`?WithTags`, `?Operation=Tag`), each a parameter the request must carry (with
    that value when one is given); the input members the model binds to the query string or to a
    header and marks required (S3's UploadPart needs `partNumber` and `uploadId`, CopyObject the
    header x-amz-copy-source), which the request must carry too; how specific the path is (literal
    segments, then no greedy label); the operation's name.
    """
    model = botocore.session.get_session().get_service_model(service)
    routes = []
    for name in model.operation_names:
        op = model.operation_model(name)
        path, _, query = op.http["requestUri"].partition("?")
        segments = [s for s in path.strip("/").split("/") if s]
        pattern = "".join(
            "/(.+)" if s.endswith("+}") else "/([^/]+)" if s.startswith("{") else "/" + re.escape(s)
            for s in segments
        )
        literal = {k: (v or None) for k, v in parse_qsl(query, keep_blank_values=True)}
        required = []
        if op.input_shape is not None:
            for member in op.input_shape.required_members:
                serialization = op.input_shape.members[member].serialization
                if serialization.get("location") in ("querystring", "header"):
                    required.append((serialization["location"], serialization.get("name", member)))
        specificity = (sum(not s.startswith("{") for s in segments), not any(s.endswith("+}") for s in segments))
        routes.append((op.http["method"], re.compile(f"^{pattern}/?$"), literal, required, specificity, name))
    return routes


def _s3_path(environ: dict[str, Any]) -> str:
    """The path of an S3 request in path style, `/<bucket>/<key>`, whichever addressing it used.

    A virtual-hosted request (`<bucket>.<host>`) names its bucket in the Host header; whether it
    does, and which label is the bucket, is read as moto reads it (moto/s3/responses.py
    S3Response.subdomain_based_buckets: not for `localhost...`, IP addresses or S3's own path-style
    hosts; moto/s3/utils.py bucket_name_from_url: the first label), so the bucket is the one moto
    acts on.
    """
    path = environ.get("PATH_INFO") or "/"
    host = environ.get("HTTP_HOST") or ""
    request = SimpleNamespace(headers={"host": host}, url=f"http://{host}{path}")
    if host and S3Response.subdomain_based_buckets(request):
        bucket = bucket_name_from_url(request.url)
        if bucket:
            return f"/{bucket}{path}"
    return path


def _header(name: str) -> str:
    """The WSGI environ key of an HTTP header (PEP 3333: the name upper-cased, `-` as `_`, after
    `HTTP_` but for Content-Type and Content-Length)."""
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


def _rest_actions(environ: dict[str, Any], service: str) -> list[str]:
    """The operations a REST request can be (usually one), by its method, path and query string.

    Candidates are the operations (`_routes`) of the request's method whose path pattern matches
    and whose literal query parameters and required query-string and header members the request
    all carries. An `x-id` parameter naming a candidate decides (the Rust SDK adds `x-id=GetObject`
    and the like to S3 operations that share a binding). Otherwise the candidates that need the
    most of the request's parameters win (GetBucketTagging's `?tagging` over ListObjects' bare
    `/{Bucket}`), then the most specific path. Operations bound identically stay together (S3's
    GetBucketLifecycle and GetBucketLifecycleConfiguration, ListBuckets and ListDirectoryBuckets):
    the request is either, and a fault on either fails it.
    """
    method = environ.get("REQUEST_METHOD") or "GET"
    path = _s3_path(environ) if service == "s3" else environ.get("PATH_INFO") or "/"
    query: dict[str, str] = {}
    for k, v in parse_qsl(environ.get("QUERY_STRING") or "", keep_blank_values=True):
        query.setdefault(k, v)
    candidates = []
    for route_method, pattern, literal, required, specificity, name in _routes(service):
        if route_method != method or not pattern.match(path):
            continue
        if any(k not in query or (v is not None and query[k] != v) for k, v in literal.items()):
            continue
        if any((h not in query) if loc == "querystring" else (_header(h) not in environ) for loc, h in required):
            continue
        candidates.append(((len(literal) + len(required), specificity), name))
    if query.get("x-id") in {name for _, name in candidates}:
        return [query["x-id"]]
    best = max((score for score, _ in candidates), default=None)
    return [name for score, name in candidates if score == best]


def _action(environ: dict[str, Any]) -> tuple[list[str], str]:
    """The actions a request can be (one but for REST ties) and its error protocol: json, cbor,
    query, ec2, or a REST service's signing name (s3, cloudfront, route53). Only a query request's
    body is read, and put back."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return [target.rsplit(".", 1)[-1]], "json"
    path = environ.get("PATH_INFO") or ""
    if path.startswith("/service/") and "/operation/" in path:
        return [path.rsplit("/", 1)[-1]], "cbor"
    scope = _scope(environ)
    service = scope[3] if len(scope) > 3 else ""
    if service in REST_NAMESPACES:
        return _rest_actions(environ, service), service
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
    except ValueError:
        action = None
    return ([action] if action else []), "ec2" if service == "ec2" else "query"


def _cbor_text(value: str) -> bytes:
    """A CBOR text string (major type 3)."""
    data = value.encode()
    n = len(data)
    if n < 24:
        head = bytes([0x60 | n])
    elif n < 256:
        head = bytes([0x78, n])
    else:
        head = bytes([0x79]) + n.to_bytes(2, "big")
    return head + data


def _json(start_response: Any, value: Any) -> list[bytes]:
    """A 200 answer with a JSON body (the fault API's own answers)."""
    body = json.dumps(value).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _error(protocol: str, code: str, message: str, head: bool) -> tuple[bytes, list[tuple[str, str]]]:
    """The error body and headers of a protocol (the shapes in the module's docstring)."""
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        return body, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    if protocol == "cbor":
        body = bytes([0xA2]) + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
        return body, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
    if protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>fault</RequestID></Response>"
        ).encode()
        return body, [("Content-Type", "text/xml")]
    if protocol == "s3":
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", "fault"), ("x-amz-id-2", "fault")]
        if head:
            return b"", headers
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>fault</RequestId></Error>"
        ).encode()
        return body, headers
    if protocol in REST_NAMESPACES:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="{REST_NAMESPACES[protocol]}">'
            f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>fault</RequestId></ErrorResponse>"
        ).encode()
        return body, [("Content-Type", "application/xml"), ("x-amzn-RequestId", "fault"), ("x-amz-request-id", "fault")]
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
    ).encode()
    return body, [("Content-Type", "text/xml")]


def _call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
    """Wraps moto/moto_server/werkzeug_app.py DomainDispatcherApplication.__call__: the fault API,
    and a faulted action's error answered before moto sees the request."""
    path = environ.get("PATH_INFO") or ""
    if path == "/webstack/faults" and environ.get("REQUEST_METHOD") == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        faults = json.loads(environ["wsgi.input"].read(length) or b"{}")
        DRAW.seed(faults.pop("seed", 0))
        FAULTS.clear()
        FAULTS.update(faults)
        return _json(start_response, {"faults": sorted(FAULTS)})
    if path == "/webstack/faults" and environ.get("REQUEST_METHOD") == "GET":
        seen = {str(k): v for k, v in sorted(SEEN.items())}
        token = os.environ.get("WEBSTACK_MOTO_TOKEN", "")
        now = int(time.monotonic())
        return _json(
            start_response,
            {"faults": sorted(FAULTS), "injected": INJECTED, "seen": seen, "now": now, "token": token},
        )
    if path.startswith(("/moto-api", "/webstack")):
        return _original_call(self, environ, start_response)
    second = int(time.monotonic())
    SEEN[second] = SEEN.get(second, 0) + 1
    if FAULTS:
        actions, protocol = _action(environ)
        action = next((a for a in actions if a in FAULTS), None)
        if action is None and actions and "*" in FAULTS:
            action = "*"
        if action:
            fault = _drawn(FAULTS[action])
            if fault is not None and "times" in fault:
                if int(fault["times"]) <= 0:
                    fault = None
                else:
                    fault["times"] = int(fault["times"]) - 1
            if fault is not None:
                name = actions[0] if action == "*" else action
                if fault.get("reset"):
                    INJECTED[name] = INJECTED.get(name, 0) + 1
                    try:
                        if fault.get("after"):
                            _lost_answer(self, environ)
                    finally:
                        # Reset even when moto failed on the request: a reset is never answered.
                        _reset(environ)
                if fault.get("throttle"):
                    status, code = THROTTLES.get(protocol, (400, "Throttling"))
                else:
                    status, code = int(fault.get("status", 500)), fault.get("code", "InternalFailure")
                message = f"injected by the test substrate for {name}"
                INJECTED[name] = INJECTED.get(name, 0) + 1
                head = environ.get("REQUEST_METHOD") == "HEAD"
                body, headers = _error(protocol, code, message, head)
                start_response(f"{status} Injected", headers)
                return [] if head else [body]
    return _original_call(self, environ, start_response)


def _lost_answer(self: DomainDispatcherApplication, environ: dict[str, Any]) -> None:
    """Moto acts on the request; its answer is read to the end and dropped."""

    def discard(status: str, headers: Any, exc_info: Any = None) -> Any:
        return lambda data: None

    answer = _original_call(self, environ, discard)
    try:
        for _ in answer:
            pass
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()


def _reset(environ: dict[str, Any]) -> None:
    """Ends the connection with no answer and raises ConnectionResetError, which werkzeug's
    request handler (werkzeug/serving.py WSGIRequestHandler.run_wsgi) takes as a dropped
    connection: it writes nothing more, and the next read of the shut socket ends the handler."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionResetError("reset by the test substrate")


def _drawn(faults: Any) -> dict[str, Any] | None:
    """The fault that fails this request, if any, after the delays of the action's faults: one
    number drawn in [0, 1) is compared with the cumulative rates (default 1) of the faults that
    fail (a fault with only a delay fails nothing)."""
    faults = faults if isinstance(faults, list) else [faults]
    delay = sum(float(f.get("delay", 0)) for f in faults)
    if delay > 0:
        time.sleep(delay)
    failing = [f for f in faults if "status" in f or "code" in f or "throttle" in f or "reset" in f or "delay" not in f]
    if not failing:
        return None
    draw, edge = DRAW.random(), 0.0
    for fault in failing:
        edge += float(fault.get("rate", 1.0))
        if draw < edge:
            return fault
    return None


DomainDispatcherApplication.__call__ = _call
