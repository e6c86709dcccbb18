"""Reconcile planning and rollout diagnosis, on objects shaped as the Kubernetes API returns them."""

import time
from datetime import UTC, datetime

import pytest

from mlserve.deploy.manifests import CONFIG_HASH, MANAGED_BY, NAME, PART_OF, TEMPLATE_HASH
from mlserve.deploy.reconcile import api_actions, plan, rollout_needed, to_apply
from mlserve.deploy.rollout import (
    UNSCHEDULABLE_GRACE_S,
    has_log,
    pod_problem,
    pod_reason,
    rollout_state,
    waiting_text,
)
from mlserve.errors import DeployError


def obj(kind, api, config="h1", project="shop", template="t1", image="r/x:1"):
    body = {"apiVersion": "v1", "kind": kind, "metadata": {
        "name": api, "labels": {NAME: api, MANAGED_BY: "mlserve", PART_OF: project},
        "annotations": {CONFIG_HASH: config}}}
    if kind == "Deployment":
        body["spec"] = {"replicas": 1, "template": {
            "metadata": {"annotations": {TEMPLATE_HASH: template}},
            "spec": {"containers": [{"name": "api", "image": image}]}}}
    return body


def api_objects(api, config="h1", project="shop"):
    return [obj(k, api, config, project) for k in ("Deployment", "Service", "HorizontalPodAutoscaler")]


def verbs(changes):
    return {(c.kind, c.name): c.verb for c in changes}


def test_new_apis_are_created():
    changes = plan(api_objects("a"), [], "shop")
    assert set(verbs(changes).values()) == {"create"}
    assert api_actions(changes) == {"a": "created"} and rollout_needed(changes) == ["a"]


def test_unchanged_apis_are_left_alone():
    changes = plan(api_objects("a"), api_objects("a"), "shop")
    assert set(verbs(changes).values()) == {"unchanged"}
    assert api_actions(changes) == {"a": "unchanged"} and rollout_needed(changes) == []


def test_only_changed_objects_are_updated():
    desired = api_objects("a") + api_objects("b")
    desired[0] = obj("Deployment", "a", "h2", template="t2")
    changes = plan(desired, api_objects("a") + api_objects("b"), "shop")
    assert verbs(changes)[("Deployment", "a")] == "update"
    assert verbs(changes)[("Service", "a")] == "unchanged"
    assert api_actions(changes) == {"a": "updated", "b": "unchanged"}
    assert rollout_needed(changes) == ["a"]


def test_an_hpa_only_change_updates_without_rollout():
    desired = api_objects("a")
    desired[2] = obj("HorizontalPodAutoscaler", "a", "h2")
    changes = plan(desired, api_objects("a"), "shop")
    assert api_actions(changes) == {"a": "updated"} and rollout_needed(changes) == []


def test_a_deployment_change_outside_the_pod_template_keeps_the_running_template():
    # e.g. autoscaling.max_replicas or update_strategy changed; the image tag changed too, because
    # cortex.yaml is in the image, but the template hash (runtime hash + dependencies) did not.
    desired = api_objects("a")
    desired[0] = obj("Deployment", "a", "h2", image="r/x:2")
    desired[0]["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": 2}}
    changes = plan(desired, api_objects("a"), "shop")
    assert api_actions(changes) == {"a": "updated"} and rollout_needed(changes) == []
    applied = to_apply(next(c for c in changes if c.kind == "Deployment"))
    assert applied["spec"]["template"]["spec"]["containers"][0]["image"] == "r/x:1"
    assert applied["spec"]["strategy"] == {"rollingUpdate": {"maxSurge": 2}}
    assert desired[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "r/x:2"  # not modified
    # with --force the pods restart anyway
    forced = plan(desired, api_objects("a"), "shop", force=True)
    assert rollout_needed(forced, force=True) == ["a"]


def test_a_new_pod_template_rolls_out_the_new_image():
    desired = api_objects("a")
    desired[0] = obj("Deployment", "a", "h2", template="t2", image="r/x:2")
    change = next(c for c in plan(desired, api_objects("a"), "shop") if c.kind == "Deployment")
    assert rollout_needed([change]) == ["a"]
    assert to_apply(change)["spec"]["template"]["spec"]["containers"][0]["image"] == "r/x:2"


def test_apis_gone_from_the_project_are_deleted_but_not_other_projects():
    live = api_objects("a") + api_objects("old") + api_objects("theirs", project="other")
    changes = plan(api_objects("a"), live, "shop")
    assert {k for k, v in verbs(changes).items() if v == "delete"} == {
        ("Deployment", "old"), ("Service", "old"), ("HorizontalPodAutoscaler", "old")}
    assert not any(c.name == "theirs" for c in changes)
    assert api_actions(changes) == {"a": "unchanged", "old": "deleted"}


def test_an_api_of_another_project_is_not_taken_over():
    with pytest.raises(DeployError) as err:
        plan(api_objects("a"), api_objects("a", project="other"), "shop", namespace="prod")
    assert "already deployed in namespace 'prod' from project 'other'" in err.value.message


def test_force_updates_everything():
    changes = plan(api_objects("a"), api_objects("a"), "shop", force=True)
    assert set(verbs(changes).values()) == {"update"} and rollout_needed(changes, force=True) == ["a"]


def pod(*statuses, conditions=()):
    return {"metadata": {"name": "a-1"}, "status": {"containerStatuses": list(statuses),
                                                     "conditions": list(conditions)}}


def test_healthy_and_starting_pods_have_no_problem():
    assert pod_problem(pod({"state": {"running": {}}, "restartCount": 0})) is None
    assert pod_problem(pod({"state": {"waiting": {"reason": "ContainerCreating"}}})) is None
    assert pod_problem({"metadata": {"name": "a-1"}, "status": {}}) is None


def test_image_pull_errors():
    problem = pod_problem(pod({"image": "reg/x:1", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": "Back-off pulling image reg/x:1"}}}))
    assert "cannot pull image reg/x:1" in problem.message and "registry" in problem.hint
    assert not problem.logs


def test_a_crash_points_at_the_previous_container_log():
    problem = pod_problem(pod({"restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                               "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}))
    assert problem.message == "the container exited with code 3 (Error) and keeps restarting (crash loop)"
    assert problem.logs and problem.previous and problem.crash_loop  # `get` says "error (crash loop)"


def test_the_first_exit_is_reported_with_the_current_log():
    problem = pod_problem(pod({"restartCount": 0, "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}))
    assert problem.logs and not problem.previous and "crash loop" not in problem.message
    assert not problem.crash_loop


def test_out_of_memory_says_what_to_raise():
    problem = pod_problem(pod({"restartCount": 1, "state": {"running": {}},
                               "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}))
    assert "compute.mem" in problem.hint


def test_unschedulable_after_a_grace_period():
    since = datetime.fromtimestamp(time.time() - 5, UTC).isoformat()
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.", "lastTransitionTime": since}
    assert pod_problem(pod(conditions=[cond])) is None
    problem = pod_problem(pod(conditions=[cond]), now=time.time() + UNSCHEDULABLE_GRACE_S)
    assert "Insufficient nvidia.com/gpu" in problem.message and "compute" in problem.hint


def test_reasons_get_shows_for_pods_that_do_not_serve():
    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": "0/3 nodes are available: 3 Insufficient cpu.",
                     "lastTransitionTime": datetime.now(UTC).isoformat()}
    waiting = pod(conditions=[unschedulable])  # within the grace period: no problem yet, but a reason
    assert pod_reason(waiting) == "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."
    assert not has_log(waiting)
    waiting["status"]["phase"] = "Pending"
    assert waiting_text(waiting) == "pod a-1 is Pending: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."
    crashing = pod({"restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}})
    assert pod_reason(crashing) == "CrashLoopBackOff: exit code 3 (Error)" and has_log(crashing)
    oom = pod({"restartCount": 1, "state": {"running": {}},
               "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}})
    assert pod_reason(oom) == "OOMKilled: exit code 137"
    pulling = pod({"image": "reg/x:1", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "..."}}})
    assert pod_reason(pulling) == "ImagePullBackOff: reg/x:1" and not has_log(pulling)
    assert pod_reason(pod({"state": {"waiting": {"reason": "ContainerCreating"}}})) == "ContainerCreating"
    assert pod_reason(pod({"state": {"running": {}}, "restartCount": 0})) is None


def deployment(want, ready, updated, total, generation=2, observed=2):
    return {"metadata": {"generation": generation}, "spec": {"replicas": want},
            "status": {"readyReplicas": ready, "updatedReplicas": updated, "replicas": total,
                       "observedGeneration": observed}}


def test_rollout_state():
    assert rollout_state(deployment(2, 2, 2, 2)) == (True, "2/2 ready, 2 updated")
    assert not rollout_state(deployment(2, 2, 2, 2, observed=1))[0]  # controller has not seen the update
    assert not rollout_state(deployment(2, 2, 1, 3))[0]  # an old pod is still there
    assert not rollout_state(deployment(1, 0, 1, 1))[0]
    assert rollout_state(deployment(0, 0, 0, 0))[0]


def test_an_update_keeps_the_autoscaled_replica_count_within_bounds():
    from mlserve.deploy.kubernetes import KubernetesBackend
    from mlserve.deploy.manifests import SPEC

    def dep(replicas):
        return {"kind": "Deployment", "spec": {"replicas": replicas}, "metadata": {"annotations": {
            SPEC: '{"autoscaling": {"min_replicas": 2, "max_replicas": 5}}'}}}

    assert KubernetesBackend._keep_scale(dep(2), 4)["spec"]["replicas"] == 4
    assert KubernetesBackend._keep_scale(dep(2), 9)["spec"]["replicas"] == 5
    assert KubernetesBackend._keep_scale(dep(2), 1)["spec"]["replicas"] == 2
    assert KubernetesBackend._keep_scale(dep(3), None)["spec"]["replicas"] == 3  # new: init_replicas
