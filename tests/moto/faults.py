"""Fault injection for this project's tests (moto has none; EMULATOR.md, "Fault injection").

POST /webstack/faults with a JSON object {"<Action>": {"status": 403, "code": "AccessDenied"}}
makes every later request for that action fail with that status and error code, in the error
format of the action's protocol (JSON, or the XML of the query protocols), until the faults are
replaced (POST {} clears them). GET /webstack/faults answers {"faults": [...], "injected":
{"<Action>": n}}: how many requests each fault has failed (the recorder never sees them, as AWS
never acts on them). The action is read as the recorder reads it: X-Amz-Target for
JSON protocols, Action= in the form body for query protocols. Imported by server.py.
"""

import io
import json
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

FAULTS: dict[str, dict[str, Any]] = {}
INJECTED: dict[str, int] = {}

_original_call = DomainDispatcherApplication.__call__


def _action(environ: dict[str, Any]) -> tuple[str | None, bool]:
    """The action of a request and whether its protocol is JSON; the body is put back."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1], True
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
    except ValueError:
        action = None
    return action, False


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
        action, is_json = _action(environ)
        fault = FAULTS.get(action or "")
        if fault:
            status, code = int(fault.get("status", 500)), fault.get("code", "InternalFailure")
            message = f"injected by the test substrate for {action}"
            INJECTED[action] = INJECTED.get(action, 0) + 1
            if is_json:
                body = json.dumps({"__type": code, "message": message}).encode()
                headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
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
