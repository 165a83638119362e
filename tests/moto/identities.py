"""Identities for tests that run under IAM enforcement: POST /webstack/identities.

With a JSON body {"operator": {"name": NAME, "policies": [DOCUMENT, ...]}, "admin": ADMIN_NAME}
this creates, in moto's IAM backend of the default account, an IAM user NAME holding each
DOCUMENT as a managed policy, and an administrator ADMIN_NAME (Action "*" on Resource "*"), each
with an access key; then turns IAM enforcement on (what POST /moto-api/reset-auth with body 0 does,
moto/moto_api/_internal/responses.py reset_auth_response) so that from then on every request is
authorized against its signer's policies (tests/moto/iam_eval.py evaluates them as AWS does). It
answers {"operator": {"arn", "access_key_id", "secret_access_key"}, "admin": {...}}. The harness
(tests/integration/harness/moto.rs) calls it right after the emulator starts, before any test code
runs, so that the operator signs with NAME's keys and the test reads AWS back as ADMIN_NAME.
Imported by server.py.
"""

import json
from typing import Any

from moto import settings
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionAuthenticatorMixin
from moto.iam.models import iam_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_previous_call = DomainDispatcherApplication.__call__

_ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def _user(name: str) -> dict[str, str]:
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    user = iam.create_user(region_name="us-east-1", user_name=name, path="/", tags=[])
    key = iam.create_access_key(user_name=name)
    return {"arn": user.arn, "access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key}


def _identities(request: dict[str, Any]) -> dict[str, Any]:
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    operator = request["operator"]
    answer = {"operator": _user(operator["name"])}
    for i, document in enumerate(operator.get("policies", [])):
        policy = iam.create_policy(
            description="",
            path="/",
            policy_document=document,
            policy_name=f"{operator['name']}-{i}",
            tags=[],
        )
        iam.attach_user_policy(policy.arn, operator["name"])
    admin = request.get("admin")
    if admin:
        answer["admin"] = _user(admin)
        iam.put_user_policy(admin, "all", _ADMIN)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    return answer


def _call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
    if environ.get("PATH_INFO") == "/webstack/identities" and environ.get("REQUEST_METHOD") == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.dumps(_identities(json.loads(environ["wsgi.input"].read(length) or b"{}"))).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    return _previous_call(self, environ, start_response)


DomainDispatcherApplication.__call__ = _call
