"""The AsyncAPI kind's processes: submissions queued now, answered later (spec/asyncapi.py).

- `gateway.py`: HTTP. `POST <endpoint>` checks and queues a payload and answers `{"id"}`;
  `GET <endpoint>/<id>` answers its record; /healthz, /readyz, /metrics.
- `worker.py`: leases items, runs the predictor through the runtime's PredictorHost and data plane
  (the same decoding, typed checks, timeouts and streams as a RealtimeAPI), renews the lease while it
  runs, writes the record, calls the webhook, acknowledges.
- `launcher.py` (`python -m mlserve.asyncapi`): locally, one process running the gateway and
  supervising the worker subprocesses.

Both read where the queue and the records are from the environment (contract/env.py ASYNC_QUEUE,
ASYNC_RESULTS), as URLs for `mlserve.queues`.
"""
