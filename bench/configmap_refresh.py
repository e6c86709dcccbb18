"""How long a multi-model API's pods take to serve a new models list on a cluster, with and without
the pod annotation `mlserve deploy` sets (deploy/cluster_models.py), in one run.

    .venv/bin/python bench/configmap_refresh.py --env prod --api zoo --rounds 3

The API must be deployed (a multi-model API, e.g. tests/e2e/test_multi_model_e2e.py's). Each round
rewrites its models ConfigMap with the same models under a new list version, then polls every ready
pod's GET /models until all serve it: "plain" waits for kubelet's own refresh (its periodic sync of
the pod), "annotated" also changes an annotation on each pod, as deploy does. Rounds alternate the
two. The original ConfigMap is put back at the end.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from mlserve.contract.labels import MODELS_LIST
from mlserve.deploy.cluster_models import pod_pages
from mlserve.deploy.environments import get_environment
from mlserve.deploy.kubernetes import KubernetesBackend
from mlserve.deploy.manifests import MODELS_KEY, models_configmap_name
from mlserve.deploy.rollout import current_pods


def applicable(configmap: dict) -> dict:
    """A copy of a live ConfigMap that server-side apply takes (no server-set fields)."""
    out = copy.deepcopy(configmap)
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        out["metadata"].pop(key, None)
    return out


def one_round(backend: KubernetesBackend, api: str, original: dict, annotate: bool, limit: float) -> float:
    cluster = backend.cluster
    document = {**json.loads(original["data"][MODELS_KEY]), "version": f"bench-{uuid.uuid4().hex[:8]}"}
    configmap = applicable(original)
    configmap["data"][MODELS_KEY] = json.dumps(document, indent=2, sort_keys=True)
    deployment = cluster.get("apps/v1", "Deployment", api)
    pods = backend.view.reachable(current_pods(cluster, deployment))
    started = time.monotonic()
    cluster.apply(configmap)
    if annotate:
        for pod in pods:
            cluster.patch("v1", "Pod", pod["metadata"]["name"], {"metadata": {"annotations": {
                MODELS_LIST: document["version"]}}})
    while time.monotonic() - started < limit:
        pages = pod_pages(cluster, deployment, pods)
        if pages and all((page or {}).get("list") == document["version"] for _, page in pages):
            return time.monotonic() - started
        time.sleep(0.2)
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True, help="the cluster environment (mlserve env list)")
    parser.add_argument("--api", required=True, help="a deployed multi-model API")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind (default 3)")
    parser.add_argument("--limit", type=float, default=180.0, help="seconds before a round counts as never")
    args = parser.parse_args()
    backend = KubernetesBackend(get_environment(args.env))
    original = backend.cluster.get("v1", "ConfigMap", models_configmap_name(args.api))
    if original is None:
        sys.exit(f"api '{args.api}' has no models ConfigMap in environment '{args.env}': deploy a multi-model API")
    results: dict[str, list[float]] = {"plain": [], "annotated": []}
    try:
        for n in range(args.rounds):
            for kind in ("plain", "annotated") if n % 2 == 0 else ("annotated", "plain"):
                seconds = one_round(backend, args.api, original, kind == "annotated", args.limit)
                results[kind].append(seconds)
                print(f"round {n + 1} {kind:9s} {seconds:6.1f}s", flush=True)
    finally:
        backend.cluster.apply(applicable(original))
    for kind, values in results.items():
        print(f"{kind:9s} median {statistics.median(values):6.1f}s  max {max(values):6.1f}s  "
              f"({', '.join(f'{v:.1f}' for v in values)})")
    plain, annotated = statistics.median(results["plain"]), statistics.median(results["annotated"])
    print(f"plain / annotated (medians): {plain / annotated:.0f}x")


if __name__ == "__main__":
    main()
