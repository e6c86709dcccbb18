"""Jobs: the process behind a BatchAPI or TaskAPI (service.py), its workers (worker.py), one job's
supervision (runner.py) with its workers as local processes (processes.py) or a Kubernetes Job
(kube_workers.py), the submission format (submission.py) and where jobs are kept (store.py, s3_store.py)."""
