"""boto3 clients and calls for the cluster backends (sqs.py, s3.py), errors turned into QueueError.

Where a process finds AWS: by default boto3's own chain (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION,
AWS_ACCESS_KEY_ID, a profile, the pod's role...); `settings` (a mapping of those variables) names
them explicitly, e.g. the autoscaler reading a queue with the settings of the workers that use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlserve.errors import MlserveError, QueueError

# The variables a pod's AWS access is made of (the deploy sets them; the autoscaler copies them).
SETTINGS = ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def client(service: str, settings: Mapping[str, str] | None = None):
    from mlserve.extras import require

    require(f"a queue on AWS ({service})", "boto3")
    import boto3
    import botocore.exceptions

    s = settings or {}
    try:
        session = boto3.Session(aws_access_key_id=s.get("AWS_ACCESS_KEY_ID"),
                                aws_secret_access_key=s.get("AWS_SECRET_ACCESS_KEY"),
                                aws_session_token=s.get("AWS_SESSION_TOKEN"), profile_name=s.get("AWS_PROFILE"),
                                region_name=s.get("AWS_DEFAULT_REGION") or s.get("AWS_REGION"))
        return session.client(service, endpoint_url=s.get("AWS_ENDPOINT_URL"))
    except botocore.exceptions.BotoCoreError as e:
        raise QueueError(f"cannot set up AWS access for {service}: {e}",
                         hint="set AWS_DEFAULT_REGION and credentials (or AWS_PROFILE) for this process") from None


def error_code(exc: Exception) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def call(what: str, fn: Callable, *args: Any, error: type[MlserveError] = QueueError, **kwargs: Any) -> Any:
    """Run one boto3 call; its errors become `error` with the operation named and what to check."""
    import botocore.exceptions

    try:
        return fn(*args, **kwargs)
    except botocore.exceptions.NoCredentialsError:
        raise error(f"{what}: no AWS credentials found",
                    hint="configure credentials (environment variables, ~/.aws, a profile or the pod's role)") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise error(f"{what} failed: {e}",
                    hint="check the region, the endpoint (AWS_ENDPOINT_URL), the names and your AWS permissions") from None
