"""EC2: DescribeTags, DescribeRouteTables, DescribeSecurityGroups and DescribeNatGateways answer a
page of `MaxResults` items and a `NextToken`, as AWS does.

moto/ec2/responses/tags.py `TagResponse.describe_tags`, route_tables.py
`RouteTables.describe_route_tables`, security_groups.py `SecurityGroups.describe_security_groups`
and nat_gateways.py `NatGateways.describe_nat_gateways` ignore `MaxResults` and `NextToken`:
every match comes in one answer. AWS pages them: "The maximum number of items to return for this
request. To get the next page of items, make another request with the token returned in the
output" (EC2 API Reference; botocore's EC2 model gives the ranges: DescribeTags 5-1000,
DescribeRouteTables 5-100, DescribeSecurityGroups 5-1000, DescribeNatGateways 5-1000), and
refuses a value out of range (InvalidParameterValue) and a token it did not give
(InvalidNextToken). The operator's batched sweep asks for pages to bound what it holds at once
(src/aws/sweep.rs); with every tag row, route table and group of 1,000 stacks in one answer each,
the emulator gave the sweep a transient AWS never would (the benchmark under a 64 MiB limit saw
the operator's own memory jump 12.6 MiB within five seconds as its first sweep began). A request
without `MaxResults` gets every match, as before.

The pages are slices of moto's own answer in its order; the token is the offset of the next
page, opaque to the caller.
"""

import base64
from typing import Any, Callable

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidNextToken, InvalidParameterValueError
from moto.ec2.responses.nat_gateways import NatGateways
from moto.ec2.responses.route_tables import RouteTables
from moto.ec2.responses.security_groups import SecurityGroups
from moto.ec2.responses.tags import TagResponse

# (response class, method, the answer's list, MaxResults' range)
PAGED = (
    (TagResponse, "describe_tags", "Tags", (5, 1000)),
    (RouteTables, "describe_route_tables", "RouteTables", (5, 100)),
    (SecurityGroups, "describe_security_groups", "SecurityGroups", (5, 1000)),
    (NatGateways, "describe_nat_gateways", "NatGateways", (5, 1000)),
)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"webstack-page:{offset}".encode()).decode()


def _offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "webstack-page":
            raise ValueError(text)
        return int(number)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidNextToken(token) from e


def _paged(original: Callable[[Any], Any], key: str, bounds: tuple[int, int]) -> Callable[[Any], Any]:
    def method(self: Any) -> Any:
        max_results = self._get_int_param("MaxResults")
        token = self._get_param("NextToken")
        if max_results is not None and not bounds[0] <= max_results <= bounds[1]:
            raise InvalidParameterValueError(f"{max_results} (MaxResults: {bounds[0]}-{bounds[1]})")
        answer = original(self)
        page = max_results
        if page is None and token is None:
            return answer
        if not isinstance(answer, ActionResult) or not isinstance(answer.result, dict):
            return answer
        items = list(answer.result.get(key) or [])
        start = _offset(token) if token else 0
        if start > len(items):
            raise InvalidNextToken(token)
        end = len(items) if page is None else start + page
        result = dict(answer.result)
        result[key] = items[start:end]
        if end < len(items):
            result["NextToken"] = _token(end)
        return ActionResult(result)

    return method


for _cls, _name, _key, _bounds in PAGED:
    setattr(_cls, _name, _paged(getattr(_cls, _name), _key, _bounds))
