"""Shared test setup: never reach for a model hub (a failed lookup costs ~50 s of retries)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
