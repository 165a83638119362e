"""EC2 client tokens: a retried request gets the first one's answer. Imported by server.py,
before faults.py, so that a request whose answer the fault layer lost (`"after": true`) is
answered from here when the SDK retries it.

moto ignores `ClientToken` on the EC2 actions that take one: moto/ec2/responses/nat_gateways.py
NatGateways.create_nat_gateway, route_tables.py RouteTables.create_route_table,
vpcs.py VPCs.create_vpc_endpoint, flow_logs.py FlowLogs.create_flow_logs and
launch_templates.py LaunchTemplates.create_launch_template never read it, so a request repeated
after its answer was lost makes a second resource. AWS returns the original request's result
to a retry with the same client token and the same parameters, and refuses one with other
parameters with `IdempotentParameterMismatch` (EC2 API Reference, "Ensuring idempotency in
Amazon EC2 API requests"). Here a successful EC2 answer to a request carrying ClientToken is
kept, per access key, region, action and token, and replayed to a repeat with the same
parameters; a repeat with other parameters gets AWS's refusal. A failed request is not kept
(it changed nothing; a retry may succeed).
"""

import io
from typing import Any
from urllib.parse import parse_qsl

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

ANSWERS: dict[tuple[str, str, str, str], tuple[list[tuple[str, str]], str, list[tuple[str, str]], bytes]] = {}

_previous_call = DomainDispatcherApplication.__call__


def _credential_scope(environ: dict[str, Any]) -> list[str]:
    """`<key>/<date>/<region>/<service>/aws4_request` of the SigV4 Authorization header, split."""
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    if "Credential=" not in auth:
        return []
    return auth.split("Credential=", 1)[-1].split(",")[0].strip().split("/")


def _mismatch(start_response: Any, token: str) -> list[bytes]:
    body = (
        "<Response><Errors><Error><Code>IdempotentParameterMismatch</Code>"
        f"<Message>Client token {token} was used with other parameters</Message></Error></Errors>"
        "<RequestID>idempotency</RequestID></Response>"
    ).encode()
    start_response("400 Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
    """Wraps moto/moto_server/werkzeug_app.py DomainDispatcherApplication.__call__ for EC2
    requests carrying ClientToken."""
    scope = _credential_scope(environ)
    if len(scope) < 4 or scope[3] != "ec2" or environ.get("REQUEST_METHOD") != "POST":
        return _previous_call(self, environ, start_response)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    form = dict(params)
    token, action = form.get("ClientToken"), form.get("Action")
    if not token or not action:
        return _previous_call(self, environ, start_response)
    key = (scope[0], scope[2], action, token)
    request = sorted(params)
    kept = ANSWERS.get(key)
    if kept is not None:
        if kept[0] != request:
            return _mismatch(start_response, token)
        _, status, headers, answer = kept
        start_response(status, headers)
        return [answer]
    seen: dict[str, Any] = {}
    chunks: list[bytes] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, headers
        return chunks.append

    answer = _previous_call(self, environ, capture)
    try:
        chunks.extend(answer)
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()
    status, headers, data = seen.get("status", "500 Internal Server Error"), seen.get("headers", []), b"".join(chunks)
    if status.startswith("2"):
        ANSWERS[key] = (request, status, headers, data)
    start_response(status, headers)
    return [data]


DomainDispatcherApplication.__call__ = _call
