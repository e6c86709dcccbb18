"""Jobs: the process behind a BatchAPI or TaskAPI (service.py), its workers (worker.py), one job's
supervision (runner.py), the submission format (submission.py) and where jobs are kept (store.py)."""
