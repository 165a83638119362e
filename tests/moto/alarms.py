"""CloudWatch and SNS for the stack's alarms (imported by server.py, which it patches on import).

- PutMetricAlarm's Tags apply only when it creates the alarm, and an alarm's tags go with it.
- Dashboards take tags (PutDashboard's Tags on creation, TagResource, UntagResource,
  ListTagsForResource) and lose them when deleted.
- An email subscription is pending until the address confirms it.
- CloudWatch's Smithy RPC v2 CBOR protocol is served (the Rust SDK speaks only it), and its IAM
  actions are `cloudwatch:` ones.
"""

from typing import Any

import moto.cloudwatch.urls
from moto.cloudwatch.exceptions import ResourceNotFoundException
from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.iam.access_control import IAMRequestBase
from moto.sns.responses import SNSResponse

def _cbor_dispatch(request: Any, full_url: str, headers: Any) -> Any:
    """Serves CloudWatch's Smithy RPC v2 CBOR protocol, which moto 5.2.5 lacks in server mode.

    moto/cloudwatch/urls.py routes only `/` (the query protocol), and moto's parsers and
    serializers know no CBOR. AWS's CloudWatch serves `smithy-rpc-v2-cbor` (its service model's
    first protocol) at `/service/GraniteServiceVersion20100801/operation/<Operation>`, the only
    protocol the Rust SDK sends. The CBOR request is decoded (botocore's CBOR parser) and handed
    to moto as the same operation in the service's `json` protocol; moto's JSON answer is encoded
    back in CBOR against the operation's output shape (botocore's CBOR serializer: timestamps as
    tag 1), errors as a map with `__type` and `message`.
    """
    import datetime
    import io
    import json
    import re

    import botocore.session
    from botocore.parsers import RpcV2CBORParser
    from botocore.serialize import RpcV2CBORSerializer

    operation = request.path.rstrip("/").rsplit("/", 1)[-1]
    raw = request.get_data()
    parser = RpcV2CBORParser()
    params = parser.parse_data_item(parser.get_peekable_stream_from_bytes(raw)) if raw else {}

    def plain(v: Any) -> Any:
        if isinstance(v, datetime.datetime):
            return v.timestamp()
        raise TypeError(type(v))

    body = json.dumps(params, default=plain).encode()
    environ = dict(request.environ)
    environ.update(
        {
            "PATH_INFO": "/",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_AMZ_TARGET": f"GraniteServiceVersion20100801.{operation}",
            "wsgi.input": io.BytesIO(body),
        }
    )
    environ.pop("HTTP_SMITHY_PROTOCOL", None)
    as_json = type(request)(environ)
    for attr in ("from_wsgi_server",):
        if hasattr(request, attr):
            setattr(as_json, attr, getattr(request, attr))
    status, out_headers, out = CloudWatchResponse.dispatch(as_json, full_url, as_json.headers)
    text = out.decode() if isinstance(out, bytes) else (out or "")
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        # An XML error (moto's authorization answers in XML whatever the protocol).
        code = re.search(r"<Code>([^<]*)</Code>", text)
        message = re.search(r"<Message>([^<]*)</Message>", text)
        value = {"__type": code.group(1) if code else "InternalFailure", "message": message.group(1) if message else text}
    serializer = RpcV2CBORSerializer()
    encoded = bytearray()
    model = botocore.session.get_session().get_service_model("cloudwatch")
    shape = model.operation_model(operation).output_shape if int(status) < 400 else None
    if shape is not None:
        serializer._serialize_data_item(encoded, value, shape)
    else:
        if int(status) >= 400:
            code = str(value.get("__type", "InternalFailure")).split("#")[-1]
            value = {"__type": code, "message": str(value.get("message") or value.get("Message") or "")}
        else:
            value = {}
        encoded.extend(serializer._get_initial_byte(serializer.MAP_MAJOR_TYPE, len(value)))
        for k, v in value.items():
            serializer._serialize_type_string(encoded, k, None, None)
            serializer._serialize_type_string(encoded, v, None, None)
    result_headers = {
        k: v for k, v in dict(out_headers or {}).items() if k.lower() not in ("content-type", "content-length")
    }
    result_headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
    return int(status), result_headers, bytes(encoded)


moto.cloudwatch.urls.url_paths["{0}/service/GraniteServiceVersion20100801/operation/(?P<operation>[^/]+)$"] = (
    _cbor_dispatch
)

_original_put_metric_alarm = CloudWatchBackend.put_metric_alarm


def _put_metric_alarm(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
    """Wraps moto/cloudwatch/models.py CloudWatchBackend.put_metric_alarm.

    moto writes the request's Tags on every call. AWS: "If you are using this operation to update
    an existing alarm, any tags you specify in this parameter are ignored. To change the tags of an
    existing alarm, use TagResource or UntagResource" (PutMetricAlarm API reference, Tags).
    """
    name = kwargs.get("name")
    if name in self.alarms:
        kwargs["tags"] = None
    return _original_put_metric_alarm(self, *args, **kwargs)


_original_delete_alarms = CloudWatchBackend.delete_alarms


def _delete_alarms(self: CloudWatchBackend, alarm_names: list[str]) -> None:
    """Wraps moto/cloudwatch/models.py CloudWatchBackend.delete_alarms.

    moto keeps the tags of a deleted alarm, and gives them to a new alarm of the same name. On AWS
    the tags are the alarm's: deleted with it (a re-created alarm has only the tags it is created
    with).
    """
    for name in alarm_names:
        alarm = self.alarms.get(name)
        if alarm is not None:
            self.tagger.delete_all_tags_for_resource(alarm.alarm_arn)
    _original_delete_alarms(self, alarm_names)


def _dashboard_arns(self: CloudWatchBackend) -> set[str]:
    return {d.arn for d in self.dashboards.values()}


def _tag_resource(self: CloudWatchBackend, arn: str, tags: dict[str, str]) -> None:
    """Replaces moto/cloudwatch/models.py CloudWatchBackend.tag_resource.

    moto tags only alarms. AWS: "the only CloudWatch resources that can be tagged are alarms,
    dashboards, metric streams and Contributor Insights rules" (TagResource API reference). Here
    alarms and dashboards; an ARN of neither is ResourceNotFound, as before.
    """
    all_arns = {alarm.alarm_arn for alarm in self.describe_alarms()} | _dashboard_arns(self)
    if arn not in all_arns:
        raise ResourceNotFoundException
    self.tagger.tag_resource(arn, self.tagger.convert_dict_to_tags_input(tags))


def _untag_resource(self: CloudWatchBackend, arn: str, tag_keys: list[str]) -> None:
    """Replaces moto/cloudwatch/models.py CloudWatchBackend.untag_resource: dashboards too (see
    `_tag_resource`); a dashboard without tags is still found."""
    if arn not in self.tagger.tags.keys() and arn not in _dashboard_arns(self):
        raise ResourceNotFoundException
    self.tagger.untag_resource_using_names(arn, tag_keys)


_original_put_dashboard_response = CloudWatchResponse.put_dashboard


def _put_dashboard(self: CloudWatchResponse) -> ActionResult:
    """Wraps moto/cloudwatch/responses.py CloudWatchResponse.put_dashboard.

    moto ignores PutDashboard's Tags. AWS applies them when the call creates the dashboard; on an
    update "the tag updates are ignored" (PutDashboard API reference, Tags).
    """
    name = self._get_param("DashboardName")
    backend = self.cloudwatch_backend
    existed = name in backend.dashboards
    result = _original_put_dashboard_response(self)
    tags = self._get_param("Tags", [])
    if not existed and tags and name in backend.dashboards:
        backend.tagger.tag_resource(backend.dashboards[name].arn, tags)
    return result


_original_delete_dashboards = CloudWatchBackend.delete_dashboards


def _delete_dashboards(self: CloudWatchBackend, dashboards: list[str]) -> Any:
    """Wraps moto/cloudwatch/models.py CloudWatchBackend.delete_dashboards: a deleted dashboard's
    tags go with it (AWS), moto would keep them."""
    arns = [self.dashboards[d].arn for d in dashboards if d in self.dashboards]
    result = _original_delete_dashboards(self, dashboards)
    if result is None:
        for arn in arns:
            self.tagger.delete_all_tags_for_resource(arn)
    return result


CloudWatchBackend.put_metric_alarm = _put_metric_alarm
CloudWatchBackend.delete_alarms = _delete_alarms
CloudWatchBackend.tag_resource = _tag_resource
CloudWatchBackend.untag_resource = _untag_resource
CloudWatchBackend.delete_dashboards = _delete_dashboards
CloudWatchResponse.put_dashboard = _put_dashboard

PENDING = "PendingConfirmation"
EMAIL = ("email", "email-json")


def _subscribe(self: SNSResponse) -> ActionResult:
    """Wraps moto/sns/responses.py SNSResponse.subscribe.

    moto answers an email subscription with its ARN, as if it were confirmed. AWS: "If you don't
    set ReturnSubscriptionArn, the returned value is the subscription ARN if the subscription is
    confirmed, or 'pending confirmation' otherwise" (Subscribe API reference); email subscriptions
    are confirmed by the address's owner, never by the API.
    """
    protocol = self._get_param("Protocol")
    result = _original_subscribe(self)
    if protocol in EMAIL and str(self._get_param("ReturnSubscriptionArn")).lower() != "true":
        return ActionResult({"SubscriptionArn": "pending confirmation"})
    return result


_original_subscribe = SNSResponse.subscribe


def _listed(subscriptions: list[Any]) -> list[dict[str, str]]:
    return [
        {
            "SubscriptionArn": PENDING if s.protocol in EMAIL and not s.confirmed else s.arn,
            "Owner": s.owner,
            "Protocol": s.protocol,
            "Endpoint": s.endpoint,
            "TopicArn": s.topic_arn,
        }
        for s in subscriptions
    ]


def _list_subscriptions_by_topic(self: SNSResponse) -> ActionResult:
    """Replaces moto/sns/responses.py SNSResponse.list_subscriptions_by_topic.

    moto lists an unconfirmed email subscription with an ARN. AWS lists it with the
    SubscriptionArn `PendingConfirmation` until the address confirms (ListSubscriptionsByTopic,
    Subscription.SubscriptionArn), and Unsubscribe cannot name it.
    """
    topic_arn = self._get_param("TopicArn")
    next_token = self._get_param("NextToken")
    subscriptions, next_token = self.backend.list_subscriptions_by_topic(topic_arn, next_token=next_token)
    return ActionResult({"Subscriptions": _listed(subscriptions), "NextToken": next_token})


def _list_subscriptions(self: SNSResponse) -> ActionResult:
    """Replaces moto/sns/responses.py SNSResponse.list_subscriptions: pending email subscriptions
    as AWS lists them (see `_list_subscriptions_by_topic`)."""
    next_token = self._get_param("NextToken")
    subscriptions, next_token = self.backend.list_subscriptions(next_token=next_token)
    return ActionResult({"Subscriptions": _listed(subscriptions), "NextToken": next_token})


SNSResponse.subscribe = _subscribe
SNSResponse.list_subscriptions_by_topic = _list_subscriptions_by_topic
SNSResponse.list_subscriptions = _list_subscriptions

_original_iam_request_init = IAMRequestBase.__init__


def _iam_request_init(self: IAMRequestBase, *args: Any, **kwargs: Any) -> None:
    """Wraps moto/iam/access_control.py IAMRequestBase.__init__.

    moto names the IAM action after the signing name of the credential scope, which for CloudWatch
    is `monitoring`. AWS's IAM actions of CloudWatch are `cloudwatch:<Operation>` (Service
    Authorization Reference, "service prefix: cloudwatch"), which is what a policy grants.
    """
    _original_iam_request_init(self, *args, **kwargs)
    if self._service == "monitoring":
        self._action = "cloudwatch:" + self._action.split(":", 1)[1]


IAMRequestBase.__init__ = _iam_request_init
