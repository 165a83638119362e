"""Fault injection for this project's tests (moto has none; EMULATOR.md, "Fault injection").

POST /webstack/faults with a JSON object {"<Action>": {"status": 403, "code": "AccessDenied"}}
makes every later request for that action fail with that status and error code, in the error
format of the action's protocol (JSON, or the XML of the query protocols), until the faults are
replaced (POST {} clears them). GET /webstack/faults answers {"faults": [...], "injected":
{"<Action>": n}}: how many requests each fault has failed (the recorder never sees them, as AWS
never acts on them). The action is read as the recorder reads it: X-Amz-Target for
JSON protocols, Action= in the form body for query protocols. Imported by server.py.

Each protocol's own error shape (what the SDK parses into the error's code): JSON services
(X-Amz-Target) `{"__type": code, "message": ...}` with x-amzn-ErrorType; the query protocols
(Action= in the form body) `<ErrorResponse><Error><Type>Sender</Type><Code>`; EC2, a query
protocol with its own shape (EC2 API Reference, "Error codes": `<Response><Errors><Error><Code>`
with `<RequestID>`), told by the SigV4 credential scope's service `ec2`; CloudWatch over Smithy RPC
v2 CBOR (`/service/GraniteServiceVersion20100801/operation/<Action>`, the Rust SDK's protocol), a
CBOR map with `__type` and `message` and the header smithy-protocol: rpc-v2-cbor. The REST
services (S3, CloudFront, Route 53) name no action in the request and are not reached.
"""

import io
import json
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

FAULTS: dict[str, dict[str, Any]] = {}
INJECTED: dict[str, int] = {}

_original_call = DomainDispatcherApplication.__call__


def _action(environ: dict[str, Any]) -> tuple[str | None, str]:
    """The action of a request and its error protocol (json, query, ec2, cbor); the body is put back."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1], "json"
    path = environ.get("PATH_INFO") or ""
    if path.startswith("/service/") and "/operation/" in path:
        return path.rsplit("/", 1)[-1], "cbor"
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
    except ValueError:
        action = None
    scope = (environ.get("HTTP_AUTHORIZATION") or "").split("Credential=", 1)[-1].split(",")[0].split("/")
    return action, "ec2" if len(scope) > 3 and scope[3] == "ec2" else "query"


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
    body = json.dumps(value).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
    if environ.get("PATH_INFO") == "/webstack/faults" and environ.get("REQUEST_METHOD") == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        FAULTS.clear()
        FAULTS.update(json.loads(environ["wsgi.input"].read(length) or b"{}"))
        return _json(start_response, {"faults": sorted(FAULTS)})
    if environ.get("PATH_INFO") == "/webstack/faults" and environ.get("REQUEST_METHOD") == "GET":
        return _json(start_response, {"faults": sorted(FAULTS), "injected": INJECTED})
    if FAULTS:
        action, protocol = _action(environ)
        fault = FAULTS.get(action or "")
        if fault:
            status, code = int(fault.get("status", 500)), fault.get("code", "InternalFailure")
            message = f"injected by the test substrate for {action}"
            INJECTED[action] = INJECTED.get(action, 0) + 1
            if protocol == "json":
                body = json.dumps({"__type": code, "message": message}).encode()
                headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
            elif protocol == "cbor":
                body = bytes([0xA2]) + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
                headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
            elif protocol == "ec2":
                body = (
                    f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                    f"<RequestID>fault</RequestID></Response>"
                ).encode()
                headers = [("Content-Type", "text/xml")]
            else:
                body = (
                    f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                    f"<Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
                ).encode()
                headers = [("Content-Type", "text/xml")]
            start_response(f"{status} Injected", headers)
            return [body]
    return _original_call(self, environ, start_response)


DomainDispatcherApplication.__call__ = _call
