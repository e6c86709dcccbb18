"""Model folders in S3: `s3://bucket/prefix` references, fetched once into the model cache.

The cache entry is keyed by the listing's keys, sizes and ETags, so the same objects are
downloaded once (by one process: the cache's lock and atomic rename) and changed objects make a
new entry on the next load. `mlserve deploy` pins each URL to the version it listed (`version`,
passed to the runtime as MLSERVE_MODEL_PINS): the runtime then serves that version from the cache,
or fetches exactly it, and refuses objects changed since the deploy. Credentials, region and endpoint come from the environment
(AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_ENDPOINT_URL, ...), as for every AWS tool.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlserve.contract import env
from mlserve.errors import ModelNotFound
from mlserve.models.cache import MARKER, Progress, _log_progress, intact, prepare_entry

SCHEME = "s3://"
# Never uploaded: the unfinished-run state of `mlserve finetune`, a cache entry's own marker.
SKIP = (".checkpoint", MARKER)
# JSON {url: version} set by `mlserve deploy` (mlserve.deploy.pins) in the runtime's environment.
PINS_ENV = env.MODEL_PINS


def is_s3(ref: object) -> bool:
    return isinstance(ref, str) and ref.strip().startswith(SCHEME)


def parse(url: str) -> tuple[str, str]:
    """(bucket, prefix without slashes at either end) of an s3:// URL."""
    bucket, _, prefix = url.strip()[len(SCHEME):].partition("/")
    if not bucket:
        raise ModelNotFound(f"'{url}' names no bucket", hint="write s3://<bucket>/<prefix>")
    return bucket, prefix.strip("/")


def client() -> Any:
    import boto3

    return boto3.client("s3")


def fetch(url: str, root: Path, on_progress: Progress | None = None, verify: bool | None = None) -> Path:
    """The cache folder holding the objects under `url` (downloaded if not cached yet, or again
    if damaged; `verify`: see cache.prepare_entry)."""
    say = on_progress or _log_progress
    bucket, prefix = parse(url)
    pinned = json.loads(os.environ.get(PINS_ENV) or "{}").get(url.strip())
    if pinned and not verify and intact(root / pinned):
        # The deployed version, already here: no S3 call, whatever the prefix holds now (a damaged
        # one is fetched again below, if S3 still holds it).
        return root / pinned
    s3 = client()
    objects = listing(s3, url)
    name = version(url, objects)
    if pinned and name != pinned:
        raise ModelNotFound(f"model '{url}': its objects changed since `mlserve deploy` pinned them, "
                            "and the deployed version is not in the model cache (or is damaged there)",
                            hint="run `mlserve deploy` to serve the new objects (or push the deployed ones back)")

    def download(work: Path) -> dict:
        total = sum(size for _, _, size in objects.values())
        say(f"downloading {len(objects)} object(s), {total / 1e6:.0f} MB, from {url}")
        for relative, (key, etag, _) in sorted(objects.items()):
            target = work / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            # IfMatch: an object replaced since the listing fails instead of mixing two versions.
            body = _call(url, s3.get_object, Bucket=bucket, Key=key, IfMatch=etag)["Body"]
            with target.open("wb") as out:
                for chunk in body.iter_chunks(8 << 20):
                    out.write(chunk)
        return {"etags": {relative: etag for relative, (_, etag, _) in objects.items()}}

    return prepare_entry(root, name, url, download, say, verify)


def version(url: str, objects: dict[str, tuple[str, str, int]]) -> str:
    """Names one set of objects under `url` (their keys, ETags and sizes): the cache entry's name."""
    bucket, _ = parse(url)
    stamp = json.dumps(sorted(objects.items()), separators=(",", ":"))
    return "s3-" + hashlib.sha256(f"{bucket}\n{stamp}".encode()).hexdigest()[:24]


def current_version(url: str) -> str:
    """The version the objects under `url` are now (one list call)."""
    return version(url, listing(client(), url))


def listing(s3: Any, url: str) -> dict[str, tuple[str, str, int]]:
    """{path relative to the prefix: (key, etag, size)} of the objects under `url`;
    a prefix that is itself an object's key gives that one object."""
    bucket, prefix = parse(url)
    start = f"{prefix}/" if prefix else ""
    objects = {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=start)
    for page in _call(url, list, pages):
        for item in page.get("Contents", []):
            relative = item["Key"][len(start):]
            if relative and not relative.endswith("/"):
                objects[relative] = (item["Key"], item["ETag"], item["Size"])
    if objects or not prefix:
        if not objects:
            raise ModelNotFound(f"model '{url}': bucket '{bucket}' is empty",
                                hint="upload the model first: mlserve models push DIR " + url)
        return objects
    head = _call(url, s3.head_object, Bucket=bucket, Key=prefix)
    return {Path(prefix).name: (prefix, head["ETag"], head["ContentLength"])}


def push(folder: Path, url: str, say: Progress) -> list[str]:
    """Upload `folder` under `url` as a mirror (objects under the prefix not in it are removed);
    returns the keys written."""
    bucket, prefix = parse(url)
    if not prefix:
        raise ModelNotFound(f"'{url}' names no prefix", hint="push to s3://<bucket>/<prefix>, e.g. s3://models/story")
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part in SKIP for part in p.relative_to(folder).parts))
    s3 = client()
    _call(url, s3.head_bucket, Bucket=bucket)
    written = []
    for path in files:
        key = f"{prefix}/{path.relative_to(folder).as_posix()}"
        say(f"uploading {path.relative_to(folder)} ({path.stat().st_size / 1e6:.1f} MB)")
        _call(url, s3.upload_file, str(path), bucket, key)
        written.append(key)
    try:
        old = listing(s3, url)
    except ModelNotFound:
        old = {}
    for key, _, _ in old.values():
        if key not in written:
            say(f"removing {key} (not in {folder})")
            _call(url, s3.delete_object, Bucket=bucket, Key=key)
    return written


def _call(url: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run an S3 call; errors become ModelNotFound naming the bucket or key and what to do."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, prefix = parse(url)
    try:
        return fn(*args, **kwargs)
    except NoCredentialsError:
        raise ModelNotFound(f"model '{url}': no AWS credentials found",
                            hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE") from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchBucket",) or (code == "404" and fn.__name__ == "head_bucket"):
            raise ModelNotFound(f"model '{url}': bucket '{bucket}' does not exist",
                                hint="check the bucket name and AWS_ENDPOINT_URL/region, or create it") from None
        if code in ("NoSuchKey", "404"):
            raise ModelNotFound(f"model '{url}': no object '{prefix}' and no objects under '{prefix}/' "
                                f"in bucket '{bucket}'",
                                hint=f"check the prefix, or upload the model: mlserve models push DIR {url}") from None
        if code in ("PreconditionFailed", "412"):
            raise ModelNotFound(f"model '{url}': an object changed while it was downloaded",
                                hint="retry once the upload has finished") from None
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise ModelNotFound(f"model '{url}': access denied ({code})",
                                hint="check the AWS credentials and the bucket policy") from None
        raise ModelNotFound(f"model '{url}': S3 error {code}: {exc}", hint="see the S3 error above") from None
    except BotoCoreError as exc:
        raise ModelNotFound(f"model '{url}': cannot reach S3: {exc}",
                            hint="check AWS_ENDPOINT_URL, the region and the network") from None
