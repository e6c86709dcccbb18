"""The cluster's result store: one JSON object per item id under `s3://BUCKET/PREFIX/<id>.json`.

A put overwrites the object (S3 is strongly read-after-write consistent, so a GET after it sees
it); `expire` deletes by LastModified (whole seconds, so a record may go up to a second early).
The deploy creates the bucket (`ensure_bucket`); opening the store never does.
"""

from __future__ import annotations

import json
import time

from mlserve.errors import MlserveError, QueueError
from mlserve.queues.aws import call, client, error_code

_MISSING_KEY = ("NoSuchKey", "404")
_MISSING_BUCKET = ("NoSuchBucket", "404")


def parse(url_rest: str) -> tuple[str, str]:
    """(bucket, prefix without slashes at either end) of `BUCKET/PREFIX`."""
    bucket, _, prefix = url_rest.partition("/")
    if not bucket:
        raise QueueError(f"result store s3://{url_rest} names no bucket", hint="use s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


def ensure_bucket(s3, bucket: str, region: str | None, *, error: type[MlserveError] = QueueError) -> bool:
    """Create `bucket` if it does not exist; whether it was created."""
    import botocore.exceptions

    def exists() -> bool:
        try:
            s3.head_bucket(Bucket=bucket)
            return True
        except botocore.exceptions.ClientError as e:
            if error_code(e) in _MISSING_BUCKET:
                return False
            raise
    if call(f"looking for S3 bucket {bucket}", exists, error=error):
        return False
    where = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    call(f"creating S3 bucket {bucket}", s3.create_bucket, Bucket=bucket, **where, error=error)
    return True


def delete_prefix(s3, bucket: str, prefix: str, *, older_than_s: float | None = None,
                  error: type[MlserveError] = QueueError) -> int:
    """Delete the objects under `prefix/` (only those last written more than `older_than_s` ago);
    how many went. A missing bucket has nothing to delete."""
    import botocore.exceptions

    cutoff = None if older_than_s is None else time.time() - older_than_s

    def sweep() -> int:
        gone = 0
        try:
            pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""))
        except botocore.exceptions.ClientError as e:
            if error_code(e) in _MISSING_BUCKET:
                return 0
            raise
        for page in pages:
            keys = [o["Key"] for o in page.get("Contents") or []
                    if cutoff is None or o["LastModified"].timestamp() < cutoff]
            for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys at most
                batch = keys[start:start + 1000]
                s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
                gone += len(batch)
        return gone
    return call(f"deleting results under s3://{bucket}/{prefix}/", sweep, error=error)


class S3Results:
    def __init__(self, url_rest: str, settings=None) -> None:
        self.bucket, self.prefix = parse(url_rest)
        self._s3 = client("s3", settings)

    def _key(self, item_id: str) -> str:
        return f"{self.prefix}/{item_id}.json" if self.prefix else f"{item_id}.json"

    def put(self, item_id: str, record: dict) -> None:
        call(f"writing result {item_id} to s3://{self.bucket}/{self.prefix}", self._s3.put_object,
             Bucket=self.bucket, Key=self._key(item_id), Body=json.dumps(record).encode(),
             ContentType="application/json")

    def get(self, item_id: str) -> dict | None:
        import botocore.exceptions

        def read() -> dict | None:
            try:
                body = self._s3.get_object(Bucket=self.bucket, Key=self._key(item_id))["Body"].read()
            except botocore.exceptions.ClientError as e:
                if error_code(e) in _MISSING_KEY:
                    return None
                raise
            return json.loads(body)
        return call(f"reading result {item_id} from s3://{self.bucket}/{self.prefix}", read)

    def expire(self, older_than_s: float) -> int:
        return delete_prefix(self._s3, self.bucket, self.prefix, older_than_s=older_than_s)

    def drop(self) -> None:
        delete_prefix(self._s3, self.bucket, self.prefix)
