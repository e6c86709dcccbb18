"""Model versions of a multi-model API: local folders and S3 prefixes (a real S3 API: moto's server)
list the same versions; ETag changes show as new fingerprints; S3 versions are downloaded into the
model cache, and the cache's disk LRU keeps at most disk_cache_size of them."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from prometheus_client import CollectorRegistry

from mlserve.models.repository import local_folder, scan
from mlserve.runtime.multimodel.metrics import ModelMetrics
from mlserve.runtime.multimodel.store import ModelStore
from mlserve.spec.multi_model import MultiModelReloading

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def s3(moto_url, monkeypatch, tmp_path):
    for name, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3")
    client.create_bucket(Bucket="models")
    return client


def test_local_dir_versions_and_unversioned_models(tmp_path):
    (tmp_path / "models" / "iris" / "1").mkdir(parents=True)
    (tmp_path / "models" / "iris" / "1" / "w.bin").write_bytes(b"1")
    (tmp_path / "models" / "iris" / "10").mkdir()
    (tmp_path / "models" / "iris" / "10" / "w.bin").write_bytes(b"10")
    (tmp_path / "models" / "wine").mkdir()
    (tmp_path / "models" / "wine" / "w.bin").write_bytes(b"w")
    listing = scan(MultiModelReloading(dir="models"), tmp_path)  # relative to the project root
    assert {m: sorted(vs) for m, vs in listing.models.items()} == {"iris": [1, 10], "wine": [1]}
    assert listing.models["wine"][1].source == str(tmp_path / "models" / "wine")
    missing = scan(MultiModelReloading(paths=[{"name": "rose", "path": "nowhere"}]), tmp_path)
    assert missing.models == {"rose": {}} and "does not exist" in missing.problems["rose"]


def test_s3_versions_etags_download_and_disk_lru(s3, tmp_path):
    for model in ("a", "b", "c"):
        for version in (1, 2):
            s3.put_object(Bucket="models", Key=f"zoo/{model}/{version}/value.txt", Body=f"{model}{version}".encode())
    config = MultiModelReloading(dir="s3://models/zoo", cache_size=1, disk_cache_size=2)
    listing = scan(config, tmp_path)
    assert {m: sorted(vs) for m, vs in listing.models.items()} == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}
    assert listing.models["a"][2].source == "s3://models/zoo/a/2"
    folder = local_folder(listing.models["a"][2], tmp_path / "cache")
    assert (folder / "value.txt").read_text() == "a2"

    s3.put_object(Bucket="models", Key="zoo/a/2/value.txt", Body=b"a2, retrained")
    again = scan(config, tmp_path)
    assert again.models["a"][2].fingerprint != listing.models["a"][2].fingerprint
    assert again.models["a"][1].fingerprint == listing.models["a"][1].fingerprint

    registry = CollectorRegistry()
    store = ModelStore(lambda path: (Path(path) / "value.txt").read_text(), ModelMetrics("t", registry),
                       tmp_path / "store-cache", cache_size=1, disk_cache_size=2)
    store.publish(again)
    for model in ("a", "b", "c", "a"):
        slot = store.acquire(model)
        store.release(slot)
    assert slot.value == "a2, retrained"
    assert len(store.memory) == 1 and len(store.disk) == 2
    on_disk = [p for p in (tmp_path / "store-cache").iterdir() if p.name.startswith("s3-")]
    assert len(on_disk) == 2, on_disk
    # a, b, c downloaded; c pushed a off the disk, so a is downloaded again: four cold loads.
    assert registry.get_sample_value("mlserve_model_cache_lookups_total", {"api": "t", "level": "cold"}) == 4
    assert registry.get_sample_value("mlserve_model_cache_lookups_total", {"api": "t", "level": "disk"}) is None
