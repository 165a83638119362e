"""Checks that faults.py reaches the REST services (S3, CloudFront, Route 53) with boto3.

Run with the emulator's venv: `$(dirname $(tests/scripts/moto-venv.sh))/python
tests/moto/check_rest_faults.py`. It starts its own server.py on a free loopback port, then:

1. offline, builds a request from every S3, CloudFront and Route 53 operation's own HTTP binding
   in botocore's models and checks faults.py identifies it as that operation (operations with the
   same binding, such as GetBucketLifecycle and GetBucketLifecycleConfiguration, come out together);
2. injects faults (POST /webstack/faults) and checks, for S3 both path-style and virtual-hosted
   (`<bucket>.localhost`), that each faulted operation fails with the injected status and the code
   boto3 reads (`ClientError.response['Error']['Code']`; a HEAD has no body, so boto3 reads the
   status as the code, as it does for S3's own HEAD errors), while operations sharing a path with
   a faulted one still work;
3. checks the raw bytes of each REST error shape, that GET /webstack/faults counts each
   injection, that POST {} clears the faults, and that EC2, query and JSON faults still answer.

Exits non-zero on the first failure.
"""

import json
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from local_server import start_server

HERE = Path(__file__).resolve().parent
CHECKS = 0

# `<bucket>.localhost` names the loopback (RFC 6761, section 6.3), which glibc without
# systemd-resolved does not resolve; this process resolves it so virtual-hosted S3 requests reach
# the emulator with the bucket in the Host header.
_getaddrinfo = socket.getaddrinfo


def _resolve_localhost(host: Any, *args: Any, **kwargs: Any) -> Any:
    """socket.getaddrinfo, with every `*.localhost` name on 127.0.0.1."""
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _resolve_localhost


def ok(what: str) -> None:
    """Counts and prints one passed check."""
    global CHECKS
    CHECKS += 1
    print(f"ok  {what}")


def fail(what: str) -> None:
    """Prints a failed check and exits."""
    print(f"FAIL {what}")
    sys.exit(1)


def fault_api(port: int, body: Any = None) -> Any:
    """POST (with a body) or GET /webstack/faults; the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/webstack/faults", data=data) as r:
        return json.load(r)


def identification() -> None:
    """Every operation of the three models, requested as its binding says, is identified as itself."""
    sys.path.insert(0, str(HERE))
    import faults  # noqa: PLC0415  (only the functions; this process serves nothing)

    session = botocore.session.get_session()
    for service in ("s3", "cloudfront", "route53"):
        model = session.get_service_model(service)
        ties = set()
        for name in model.operation_names:
            op = model.operation_model(name)
            path, _, query = op.http["requestUri"].partition("?")
            path = "/".join(
                "some/key.txt" if s.endswith("+}") else "value1" if s.startswith("{") else s for s in path.split("/")
            )
            params = dict(p.partition("=")[::2] for p in query.split("&") if p)
            environ = {"REQUEST_METHOD": op.http["method"], "PATH_INFO": path, "HTTP_HOST": "127.0.0.1:4566"}
            shape = op.input_shape
            for member in shape.required_members if shape is not None else []:
                serialization = shape.members[member].serialization
                if serialization.get("location") == "querystring":
                    params[serialization["name"]] = "x"
                elif serialization.get("location") == "header":
                    environ[faults._header(serialization["name"])] = "x"
            environ["QUERY_STRING"] = urlencode(params)
            got = faults._rest_actions(environ, service)
            if name not in got:
                fail(f"{service} {name}: {op.http['method']} {path}?{environ['QUERY_STRING']} identified as {got}")
            if len(got) > 1:
                ties.add(" = ".join(sorted(got)))
        ok(f"{service}: all {len(model.operation_names)} operations identified from their own bindings"
           + (f" (bound identically: {'; '.join(sorted(ties))})" if ties else ""))
    # The Rust SDK's x-id names the operation; a virtual-hosted request's bucket comes from Host.
    got = faults._rest_actions(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/b/k", "QUERY_STRING": "x-id=GetObject", "HTTP_HOST": "127.0.0.1"}, "s3"
    )
    if got != ["GetObject"]:
        fail(f"x-id=GetObject identified as {got}")
    got = faults._rest_actions(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "tagging", "HTTP_HOST": "b.localhost:1"}, "s3"
    )
    if got != ["GetBucketTagging"]:
        fail(f"GET b.localhost/?tagging identified as {got}")
    ok("s3: x-id decides; a virtual-hosted GET /?tagging is GetBucketTagging")


def raw_shapes(port: int) -> None:
    """The bytes of each REST error, as the Rust SDK reads them: S3's Code and Message are children
    of the root `<Error>` (aws-sdk-s3 rest_xml_unwrapped_errors.rs), CloudFront's and Route 53's
    children of `<Error>` in a root `<ErrorResponse>` (rest_xml_wrapped_errors.rs); a HEAD has no body."""
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    def request(method: str, service: str, path: str) -> tuple[int, dict[str, str], bytes]:
        scope = f"testing/20250101/us-east-1/{service}/aws4_request"
        auth = f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers={"Authorization": auth})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    status, headers, body = request("GET", "s3", "/raw?tagging")
    root = ET.fromstring(body)
    if (status, root.tag, root.findtext("Code"), headers.get("Content-Type"), headers.get("x-amz-request-id")) != (
        409, "Error", "OperationAborted", "application/xml", "fault"
    ):
        fail(f"S3 raw GetBucketTagging: {status} {headers} {body!r}")
    ok(f"S3 raw: {status} {headers['Content-Type']} {body.decode().splitlines()[-1]}")
    status, headers, body = request("HEAD", "s3", "/raw")
    if (status, body, headers.get("x-amz-request-id")) != (403, b"", "fault"):
        fail(f"S3 raw HeadBucket: {status} {headers} {body!r}")
    ok("S3 raw HEAD: 403, no body")
    cloudfront = "http://cloudfront.amazonaws.com/doc/2020-05-31/"
    route53 = "https://route53.amazonaws.com/doc/2013-04-01/"
    for service, path, want, ns in [
        ("cloudfront", "/2020-05-31/distribution/E0", "NoSuchDistribution", cloudfront),
        ("route53", "/2013-04-01/hostedzone/Z000", "NoSuchHostedZone", route53),
    ]:
        status, headers, body = request("GET", service, path)
        root = ET.fromstring(body)
        got = (status, root.tag, root.findtext(f"{{{ns}}}Error/{{{ns}}}Code"), headers.get("Content-Type"))
        if got != (404, f"{{{ns}}}ErrorResponse", want, "application/xml"):
            fail(f"{service} raw: {status} {headers} {body!r}")
        ok(f"{service} raw: {status} {headers['Content-Type']} {body.decode().splitlines()[-1]}")


def expect_error(what: str, call: Callable[[], Any], status: int, code: str) -> None:
    """`call` fails with this HTTP status and error code (and, with a body, the injected message)."""
    try:
        call()
    except ClientError as e:
        error, meta = e.response["Error"], e.response["ResponseMetadata"]
        got = (meta.get("HTTPStatusCode"), error.get("Code"))
        if got != (status, code):
            fail(f"{what}: want {(status, code)}, got {got}: {e.response}")
        if str(status) != code and "injected" not in error.get("Message", ""):
            fail(f"{what}: message {error.get('Message')!r}")
        if meta.get("RequestId") != "fault":
            fail(f"{what}: request id {meta.get('RequestId')!r}")
        ok(f"{what}: {status} {code}")
        return
    fail(f"{what}: no error")


def expect_ok(what: str, call: Callable[[], Any]) -> Any:
    """`call` succeeds."""
    try:
        result = call()
    except ClientError as e:
        fail(f"{what}: {e}")
    ok(f"{what}: works")
    return result


def main() -> None:
    identification()
    proc, port = start_server()
    try:
        online(port)
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"{CHECKS} checks passed")


def online(port: int) -> None:
    """The faults through boto3 against the running server."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    once = {"retries": {"total_max_attempts": 1}}
    cloudfront = session.client("cloudfront", endpoint_url=f"http://127.0.0.1:{port}", config=Config(**once))
    route53 = session.client("route53", endpoint_url=f"http://127.0.0.1:{port}", config=Config(**once))
    s3_clients = {
        "path": session.client(
            "s3", endpoint_url=f"http://127.0.0.1:{port}", config=Config(s3={"addressing_style": "path"}, **once)
        ),
        # Not an IP address: the endpoint rules put the bucket in the host name.
        "virtual": session.client(
            "s3", endpoint_url=f"http://localhost:{port}", config=Config(s3={"addressing_style": "virtual"}, **once)
        ),
    }
    hosts: dict[str, set[str]] = {"path": set(), "virtual": set()}
    for style, client in s3_clients.items():
        client.meta.events.register(
            "before-send.s3", lambda request, style=style, **_: hosts[style].add(request.url.split("/")[2])
        )

    zone = route53.create_hosted_zone(Name="faults.example.test", CallerReference="faults")["HostedZone"]["Id"]
    zone_id = zone.rsplit("/", 1)[-1]
    s3_faults = {
        "PutBucketTagging": (403, "AccessDenied"),
        "GetBucketTagging": (409, "OperationAborted"),
        "HeadBucket": (403, "AccessDenied"),
        "HeadObject": (404, "NoSuchKey"),
        "GetPublicAccessBlock": (403, "AccessDenied"),
        "PutBucketPolicy": (400, "MalformedPolicy"),
        "ListObjectsV2": (503, "SlowDown"),
        "PutBucketOwnershipControls": (400, "InvalidRequest"),
        "DeleteObjects": (400, "MalformedXML"),
        "GetBucketEncryption": (500, "InternalError"),
    }
    faults = {
        **s3_faults,
        # CloudFront
        "GetDistribution": (404, "NoSuchDistribution"),
        "GetDistributionConfig": (403, "AccessDenied"),
        "TagResource": (400, "InvalidTagging"),
        # Route 53
        "ChangeResourceRecordSets": (400, "InvalidChangeBatch"),
        "GetHostedZone": (404, "NoSuchHostedZone"),
        "ListResourceRecordSets": (400, "InvalidInput"),
    }
    # The other protocols, read before the REST ones, are unchanged: EC2, query, JSON.
    others = ("DescribeVpcs", "DescribeDBInstances", "ListClusters")
    fault_api(port, {a: {"status": 400, "code": "Injected" + a} for a in others})
    for service, call in [
        ("ec2", lambda c: c.describe_vpcs()),
        ("rds", lambda c: c.describe_db_instances()),
        ("ecs", lambda c: c.list_clusters()),
    ]:
        client = session.client(service, endpoint_url=f"http://127.0.0.1:{port}", config=Config(**once))
        try:
            call(client)
            fail(f"{service}: no error")
        except ClientError as e:
            if not e.response["Error"]["Code"].startswith("Injected"):
                fail(f"{service}: {e.response['Error']}")
            ok(f"{service} (not REST): {e.response['Error']['Code']}")
    fault_api(port, {})
    answer = fault_api(port, {k: {"status": s, "code": c} for k, (s, c) in faults.items()})
    if answer["faults"] != sorted(faults):
        fail(f"POST /webstack/faults answered {answer}")

    tagging = {"Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]}}
    for style, s3 in s3_clients.items():
        bucket, key, name = f"faults-{style}", "dir/a.txt", f"S3 {style}"
        expect_ok(f"{name} CreateBucket (PutBucketTagging faulted)", lambda: s3.create_bucket(Bucket=bucket))
        expect_ok(f"{name} PutObject", lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"a"))
        expect_ok(f"{name} GetObject (HeadObject faulted)", lambda: s3.get_object(Bucket=bucket, Key=key))
        listed = expect_ok(f"{name} ListObjects (ListObjectsV2 faulted)", lambda: s3.list_objects(Bucket=bucket))
        if [o["Key"] for o in listed.get("Contents", [])] != [key]:
            fail(f"{name} ListObjects: {listed.get('Contents')}")
        controls = {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}
        for op, call in [
            ("PutBucketTagging", lambda: s3.put_bucket_tagging(Bucket=bucket, **tagging)),
            ("GetBucketTagging", lambda: s3.get_bucket_tagging(Bucket=bucket)),
            ("HeadBucket", lambda: s3.head_bucket(Bucket=bucket)),
            ("HeadObject", lambda: s3.head_object(Bucket=bucket, Key=key)),
            ("GetPublicAccessBlock", lambda: s3.get_public_access_block(Bucket=bucket)),
            ("PutBucketPolicy", lambda: s3.put_bucket_policy(Bucket=bucket, Policy="{}")),
            ("ListObjectsV2", lambda: s3.list_objects_v2(Bucket=bucket)),
            ("PutBucketOwnershipControls", lambda: s3.put_bucket_ownership_controls(Bucket=bucket, **controls)),
            ("DeleteObjects", lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})),
            ("GetBucketEncryption", lambda: s3.get_bucket_encryption(Bucket=bucket)),
        ]:
            status, code = faults[op]
            # A HEAD has no body: boto3's code is the status (botocore RestXMLParser._parse_error_from_http_status).
            expect_error(f"{name} {op}", call, status, str(status) if op.startswith("Head") else code)
    if any(h.startswith("faults-") for h in hosts["path"]) or any(
        not h.startswith("faults-virtual.") for h in hosts["virtual"]
    ):
        fail(f"addressing: {hosts}")
    ok(f"S3 addressing: path-style hosts {sorted(hosts['path'])}, virtual-hosted {sorted(hosts['virtual'])}")

    expect_ok("CloudFront ListDistributions (GetDistribution faulted)", lambda: cloudfront.list_distributions())
    arn = "arn:aws:cloudfront::123456789012:distribution/E000000000000"
    expect_ok("Route 53 ListHostedZones (GetHostedZone faulted)", lambda: route53.list_hosted_zones())
    record = {"Name": "www.faults.example.test", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.1"}]}
    batch = {"ChangeBatch": {"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]}}
    for op, call in [
        ("GetDistribution", lambda: cloudfront.get_distribution(Id="E000000000000")),
        ("GetDistributionConfig", lambda: cloudfront.get_distribution_config(Id="E000000000000")),
        ("TagResource", lambda: cloudfront.tag_resource(Resource=arn, Tags={"Items": [{"Key": "k", "Value": "v"}]})),
        ("ChangeResourceRecordSets", lambda: route53.change_resource_record_sets(HostedZoneId=zone_id, **batch)),
        ("GetHostedZone", lambda: route53.get_hosted_zone(Id=zone_id)),
        ("ListResourceRecordSets", lambda: route53.list_resource_record_sets(HostedZoneId=zone_id)),
    ]:
        service = "CloudFront" if op in ("GetDistribution", "GetDistributionConfig", "TagResource") else "Route 53"
        expect_error(f"{service} {op}", call, *faults[op])

    raw_shapes(port)
    injected = fault_api(port)["injected"]
    # The S3 faults once per addressing style.
    want = {k: 2 if k in s3_faults else 1 for k in faults}
    # The raw requests of raw_shapes.
    for k in ("GetBucketTagging", "HeadBucket", "GetDistribution", "GetHostedZone"):
        want[k] += 1
    # The counts are kept across POSTs: the earlier EC2, query and JSON faults.
    want.update({"DescribeVpcs": 1, "DescribeDBInstances": 1, "ListClusters": 1})
    if injected != want:
        fail(f"GET /webstack/faults injected {injected}, want {want}")
    ok(f"GET /webstack/faults counts {sum(injected.values())} injections over {len(injected)} actions")

    if fault_api(port, {})["faults"] != []:
        fail("POST {} did not clear")
    for style, s3 in s3_clients.items():
        bucket = f"faults-{style}"
        expect_ok(f"S3 {style} HeadBucket, cleared", lambda: s3.head_bucket(Bucket=bucket))
        expect_ok(f"S3 {style} PutBucketTagging, cleared", lambda: s3.put_bucket_tagging(Bucket=bucket, **tagging))
        got = expect_ok(f"S3 {style} GetBucketTagging, cleared", lambda: s3.get_bucket_tagging(Bucket=bucket))
        if got["TagSet"] != tagging["Tagging"]["TagSet"]:
            fail(f"S3 {style} tags {got['TagSet']}")
    expect_ok("Route 53 GetHostedZone, cleared", lambda: route53.get_hosted_zone(Id=zone_id))
    expect_ok(
        "Route 53 ChangeResourceRecordSets, cleared",
        lambda: route53.change_resource_record_sets(HostedZoneId=zone_id, **batch),
    )
    # moto's own answer for a distribution that does not exist, no longer the injected one.
    try:
        cloudfront.get_distribution(Id="E000000000000")
        fail("CloudFront GetDistribution, cleared: no error")
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchDistribution" or "injected" in e.response["Error"].get("Message", ""):
            fail(f"CloudFront GetDistribution, cleared: {e.response['Error']}")
    ok("CloudFront GetDistribution, cleared: moto's own NoSuchDistribution")


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()
