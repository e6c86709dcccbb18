"""Names of the labels and annotations mlserve puts on Kubernetes objects (the autoscaler reads them too)."""

NAME = "app.kubernetes.io/name"
MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF = "app.kubernetes.io/part-of"  # the project: APIs gone from its cortex.yaml are deleted
COMPONENT = "app.kubernetes.io/component"
SPEC_HASH = "mlserve.dev/spec-hash"
CONFIG_HASH = "mlserve.dev/config-hash"
RUNTIME_HASH = "mlserve.dev/runtime-hash"
TEMPLATE_HASH = "mlserve.dev/template-hash"
SPEC = "mlserve.dev/spec"
# On a multi-model API's pods: the models list a deploy asked them to serve (its change makes kubelet sync the pod).
MODELS_LIST = "mlserve.dev/models-list"
# Label of a Deployment scaled by its HPA (environments with `hpa`): mlserve's autoscaler leaves it alone.
SCALED_BY = "mlserve.dev/scaled-by"
MANAGER = "mlserve"
# Values of COMPONENT: what an object is part of (the autoscaler scales only API Deployments).
API_COMPONENT = "api"
SPLITTER_COMPONENT = "traffic-splitter"
ASYNC_COMPONENT = "async-api"  # an AsyncAPI's gateway (locally: the gateway and its workers)
ASYNC_WORKER_COMPONENT = "async-worker"  # an AsyncAPI's worker Deployment on a cluster (scaled on its queue)
AUTOSCALER_COMPONENT = "autoscaler"
JOB_COMPONENT = "job-api"  # a BatchAPI's or TaskAPI's job service on a cluster
JOB_WORKER_COMPONENT = "job-worker"  # the pods of one of its jobs (a Kubernetes Job)
JOB_ID = "mlserve.dev/job-id"  # label of a job's Kubernetes Job and pods
