"""The trivial predictor: no work, so any latency above a bare call is serving overhead.

With server-side batching `predict` receives a list and returns a list of the same length.
"""


class NoopPredictor:
    def __init__(self, config):
        self.reply = {"ok": True}

    def predict(self, payload):
        if isinstance(payload, list):
            return [self.reply for _ in payload]
        return self.reply
