"""Account fixtures: what a manifest presumes already exists in the account it runs in.

Reference architecture 2 names an ACM certificate by ARN (its HTTPS listener and its CloudFront
aliases). On AWS that certificate is the user's, issued before the stack is applied, and
CreateListener answers CertificateNotFound for an ARN the account lacks (moto does the same:
moto/elb/models.py register_certificate). ACM assigns certificate ARNs itself, so a test cannot
request one with the example's ARN; POST /webstack/acm-certificates {"arn": ..., "domain": ...}
puts an ISSUED certificate with that ARN into moto's ACM backend (moto/acm/models.py
CertBundle.generate_cert, AWSCertificateManagerBackend._certificates), as the user's account
would hold it. Imported by server.py.
"""

import json
from typing import Any

from moto.acm.models import CertBundle, acm_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_previous_call = DomainDispatcherApplication.__call__


def _call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
    if environ.get("PATH_INFO") == "/webstack/acm-certificates" and environ.get("REQUEST_METHOD") == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        arn = request["arn"]
        # arn:aws:acm:<region>:<account>:certificate/<id>
        region, account = arn.split(":")[3], arn.split(":")[4]
        bundle = CertBundle.generate_cert(request.get("domain", "example.com"), account, region)
        bundle.arn = arn
        bundle.status = "ISSUED"
        acm_backends[account][region]._certificates[arn] = bundle
        body = json.dumps({"arn": arn}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    return _previous_call(self, environ, start_response)


DomainDispatcherApplication.__call__ = _call
