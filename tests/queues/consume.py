"""A worker process for the queue tests: leases items and acknowledges each, printing its id.

python consume.py QUEUE_URL [--hold]: with --hold it prints the first item's id and then
sleeps while holding it (to be killed mid-item)."""

import sys
import time

from mlserve.queues import open_queue

queue = open_queue(sys.argv[1])
hold = "--hold" in sys.argv
while True:
    lease = queue.lease(visibility_s=1.0 if hold else 30.0, wait_s=1.0)
    if lease is None:
        # An empty receive is not an empty queue (SQS may answer empty under load): ask the counts.
        counts = queue.counts()
        if counts.waiting == 0 and counts.in_flight == 0:
            break
        continue
    print(lease.item_id, lease.attempt, flush=True)
    if hold:
        time.sleep(600)
    queue.ack(lease)
