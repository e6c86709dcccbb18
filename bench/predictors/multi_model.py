"""The multi-model bench's predictor: each model version is a folder with `weights.npy` (a small
matrix); predict multiplies the request's vector by the chosen model's matrix."""

import numpy as np


class Zoo:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        return np.load(f"{model_path}/weights.npy")

    def predict(self, payload, query_params):
        weights = self.client.get_model(query_params["model"], query_params.get("version", "latest"))
        return {"y": float((weights @ np.ones(weights.shape[1], dtype=np.float32)).sum())}
