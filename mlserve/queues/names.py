"""SQS queue names: what AWS allows (80 characters of letters, digits, '-' and '_'), room kept for the
dead-letter queue's suffix (sqs.py dead_letter_name). No boto3 here: the deploy renders names offline."""

from __future__ import annotations

import hashlib
import re

_SQS_NAME = re.compile(r"[^A-Za-z0-9_-]")
SQS_NAME_MAX = 80 - len("-dead.fifo")


def fifo_name(base: str) -> str:
    """`base` made a valid FIFO queue name; a long one is shortened and kept apart from others with
    the same start by a digest of the whole."""
    base = _SQS_NAME.sub("-", base)
    if len(base) > SQS_NAME_MAX:
        digest = hashlib.sha256(base.encode()).hexdigest()[:8]
        base = f"{base[:SQS_NAME_MAX - 9]}-{digest}"
    return f"{base}.fifo"
