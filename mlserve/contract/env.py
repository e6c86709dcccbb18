"""Environment variables one part of mlserve sets and another reads (a process or pod boundary)."""

# The runtime (`python -m mlserve.runtime`): set by the image and the manifests, read by runtime/server.py.
SPEC = "MLSERVE_SPEC"
API = "MLSERVE_API"
HOST = "MLSERVE_HOST"
PORT = "MLSERVE_PORT"
PROCESSES = "MLSERVE_PROCESSES"  # the runtime's parent to its worker processes
INSTANCE = "MLSERVE_INSTANCE"  # the local supervisor's token, answered by /readyz (runtime/identity.py)
IN_IMAGE = "MLSERVE_IN_IMAGE"  # set by the serving image: a missing package's fix is requirements.txt
MESH_PATH = "MLSERVE_MESH_PATH"  # Istio-mode pods also answer here (runtime/mesh.py)
# A multi-model API's deployed models list (a JSON file the runtime re-reads: spec/hashing.py models_document).
MODELS_FILE = "MLSERVE_MODELS_FILE"
MODEL_PINS = "MLSERVE_MODEL_PINS"  # the s3:// model versions a deploy fixed (models/s3.py)
# The traffic splitter (`python -m mlserve.splitter`): its routing table as JSON, or a file of it.
SPLITTER_ROUTES = "MLSERVE_SPLITTER_ROUTES"
SPLITTER_ROUTES_FILE = "MLSERVE_SPLITTER_ROUTES_FILE"
# The in-cluster autoscaler (`python -m mlserve.autoscaler`), set by deploy/control_plane.py.
AUTOSCALER_NAMESPACE = "MLSERVE_AUTOSCALER_NAMESPACE"
AUTOSCALER_API_SERVER = "MLSERVE_AUTOSCALER_API_SERVER"
AUTOSCALER_SCRAPE_CIDRS = "MLSERVE_AUTOSCALER_SCRAPE_CIDRS"
AUTOSCALER_INTERVAL = "MLSERVE_AUTOSCALER_INTERVAL"
# An AsyncAPI's gateway and workers (`python -m mlserve.asyncapi.gateway|worker`): where its work queue and
# result records are, as URLs for mlserve.queues.open_queue / open_results (sqlite://, sqs://, s3://).
ASYNC_QUEUE = "MLSERVE_ASYNC_QUEUE"
ASYNC_RESULTS = "MLSERVE_ASYNC_RESULTS"
# Locally: the folder where an AsyncAPI's worker marks itself ready (its launcher's readiness).
ASYNC_READY_DIR = "MLSERVE_ASYNC_READY_DIR"
# A BatchAPI's or TaskAPI's job service on a cluster (deploy/job_manifests.py -> jobs/kube_workers.py): the
# Kubernetes Job its jobs' workers run as (JSON, the job id still to fill in), and the API server's address
# where the in-cluster one is not reachable (host-network pods).
JOB_TEMPLATE = "MLSERVE_JOB_TEMPLATE"
JOBS_API_SERVER = "MLSERVE_JOBS_API_SERVER"
