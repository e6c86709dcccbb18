"""B1: the hand-written way to serve a predictor (a plain `def` FastAPI endpoint on uvicorn).

    python bench/baseline_app.py --predictor FILE --class-name NAME --config JSON --port N

One request -> one `predict` call in FastAPI's thread pool; no batching, no queue bound.
Uvicorn's defaults except the access log, which is switched off so the comparison is about
the serving design, not about logging.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path


def load_predictor(path: str, class_name: str, config: dict):
    spec = importlib.util.spec_from_file_location(f"bench_predictor_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)(config)


def make_app(predictor):
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/predict")
    def predict(payload: dict):
        return predictor.predict(payload)

    return app


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--predictor", required=True)
    parser.add_argument("--class-name", required=True)
    parser.add_argument("--config", default="{}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    import uvicorn

    app = make_app(load_predictor(args.predictor, args.class_name, json.loads(args.config)))
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
