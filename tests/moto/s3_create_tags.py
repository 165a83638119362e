"""S3: tags in CreateBucketConfiguration (imported by server.py, which it patches on import)."""

from typing import Any

import xmltodict
from moto.s3.responses import S3Response


_original_bucket_response_put = S3Response._bucket_response_put


def _bucket_response_put(self: S3Response, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
    """Wraps moto/s3/responses.py S3Response._bucket_response_put.

    moto ignores `CreateBucketConfiguration.Tags`. AWS applies them with the bucket ("An array of
    tags that you can apply to the bucket that you're creating", CreateBucket API reference), so a
    bucket is never without its tags, not even between two calls. After moto creates the bucket,
    the tags of the request are stored as PutBucketTagging would store them.
    """
    result = _original_bucket_response_put(self, request, bucket_name, querystring)
    if querystring or not self.body:
        return result
    try:
        config = xmltodict.parse(self.body, force_list={"Tag": True}).get("CreateBucketConfiguration") or {}
    except Exception:  # not XML: not a CreateBucket with a configuration
        return result
    tags = (config.get("Tags") or {}).get("Tag") or []
    if tags:
        self.backend.put_bucket_tagging(bucket_name, {t["Key"]: t.get("Value") or "" for t in tags})
    return result


S3Response._bucket_response_put = _bucket_response_put
