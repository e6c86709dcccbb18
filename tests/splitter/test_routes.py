"""The routing table: weighted choice, failover choice, path mapping, bad tables."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mlserve.errors import DeployError
from mlserve.splitter.routes import RoutesSource, parse_routes

TABLE = {"splitter": "canary", "endpoint": "/canary", "backends": [
    {"name": "v1", "url": "http://127.0.0.1:9001/v1", "weight": 90},
    {"name": "v2", "url": "http://127.0.0.1:9002/models/v2", "weight": 10},
    {"name": "v0", "url": "http://127.0.0.1:9003/v0", "weight": 0},
    {"name": "v3", "url": "http://127.0.0.1:9004/v3", "weight": 0, "shadow": True}]}


def test_every_100_requests_follow_the_weights_interleaved():
    routes = parse_routes(json.dumps(TABLE), "t")
    picks = [routes.choose().name for _ in range(300)]
    for start in range(0, 300, 100):
        assert Counter(picks[start:start + 100]) == {"v1": 90, "v2": 10}
    assert max(len(run) for run in "".join("x" if p == "v2" else "." for p in picks).split("x")) <= 10
    assert routes.shadow.name == "v3"


def test_failover_skips_refused_backends():
    routes = parse_routes(json.dumps(TABLE), "t")
    v1 = next(b for b in routes.backends if b.name == "v1")
    assert {routes.choose(exclude=(v1,)).name for _ in range(20)} == {"v2"}
    assert routes.choose(exclude=tuple(routes.primaries)) is None


def test_paths_below_the_endpoint_map_to_the_apis_endpoint():
    routes = parse_routes(json.dumps(TABLE), "t")
    v2 = next(b for b in routes.backends if b.name == "v2")
    assert (v2.base, routes.backend_path(v2, "/canary")) == ("http://127.0.0.1:9002", "/models/v2")
    assert routes.backend_path(v2, "/canary/explain") == "/models/v2/explain"
    assert routes.backend_path(v2, "/canaryx") is None and routes.backend_path(v2, "/") is None


@pytest.mark.parametrize("text, message", [
    ("{", "not a splitter routing table (JSONDecodeError"),
    ('{"splitter": "s", "endpoint": "/s"}', "not a splitter routing table (KeyError: 'backends')"),
    ('{"splitter": "s", "endpoint": "/s", "backends": [{"name": "a", "url": "http://x/a", "weight": 0}]}',
     "no backend with a weight above 0"),
])
def test_bad_tables_say_so(text, message):
    with pytest.raises(DeployError, match="deploy again") as info:
        parse_routes(text, "routes.json")
    assert str(info.value).startswith("routes.json: ") and message in str(info.value)


def test_file_source_notices_a_rewrite(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(TABLE))
    source = RoutesSource(path)
    first = source.load()
    assert not source.changed()
    path.write_text(json.dumps({**TABLE, "backends": TABLE["backends"][:1]}))
    assert source.changed()
    assert source.load().version != first.version
