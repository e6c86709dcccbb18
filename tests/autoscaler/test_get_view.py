"""What `mlserve get` prints for autoscaled APIs: ready/desired replicas, in-flight, last decisions."""

from __future__ import annotations

from rich.console import Console

from mlserve.autoscaler.algorithm import Decision
from mlserve.autoscaler.state import APIState
from mlserve.cli.get import _detail, _table
from mlserve.deploy.base import APIStatus
from mlserve.deploy.cluster_status import add_scaling


def printed(fn, arg) -> str:
    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    fn(console, arg)
    return console.export_text()


def test_table_and_detail_show_the_autoscalers_view():
    deployment = {"spec": {"replicas": 3}, "status": {"readyReplicas": 2}}
    decision = Decision(time=1_700_000_000, current=2, request=3, avg_in_flight=5.5, scraped=1,
                        raw_recommendation=2.75, recommendation=3)
    state = APIState(last=decision.to_json(), events=[decision.to_json()])
    row = APIStatus(api="qa", status="updating")
    add_scaling(row, deployment, state, detail=True)
    assert (row.ready_replicas, row.desired_replicas, row.in_flight) == (2, 3, 5.5)
    table = printed(_table, [row])
    assert "replicas" in table and "in-flight" in table
    assert "2/3" in table and "5.5" in table
    detail = printed(_detail, row)
    assert "scaling decisions" in detail
    assert "2023-11-14T22:13:20+00:00  2 -> 3 (avg_in_flight=5.5" in detail


def test_local_table_has_no_scaling_columns():
    table = printed(_table, [APIStatus(api="qa", status="live", replicas="1 process")])
    assert "in-flight" not in table
