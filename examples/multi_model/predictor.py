"""Many models behind one API (Cortex's multi-model contract): each model version is a folder with
`words.txt`, one word per line; the model counts how many of a text's words it knows. The request
picks the model and version: POST /vocab?model=en&version=2 (version defaults to latest)."""


class Vocabulary:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        with open(f"{model_path}/words.txt", encoding="utf-8") as f:
            return {line.strip().lower() for line in f if line.strip()}

    def predict(self, payload, query_params):
        known = self.client.get_model(query_params.get("model"), query_params.get("version", "latest"))
        words = str(payload.get("text", "")).lower().split()
        return {"known": sum(w in known for w in words), "words": len(words)}
