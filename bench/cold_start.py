"""Cold start of the seed's generation APIs per engine: seconds from `mlserve deploy` to ready.

    python bench/cold_start.py                  # model cache as it is (converted entries reused)
    python bench/cold_start.py --fresh-cache    # an empty model cache: the first deploy ever

Each (API, setting) is deployed alone from a temporary project holding the seed's API with
`engine:`/`dtype:` set as the setting says, then deleted again. With an empty cache the
first deploy includes the one-time work: torch dequantises the GGUF to safetensors, llama.cpp
float16 widens it, llama.cpp as stored only joins split parts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
APIS = ("text-generator", "translator")
SETTINGS = {  # name -> engine, dtype (None: the key is left out)
    "torch": ("torch", None),
    "llamacpp f16": ("llamacpp", "float16"),
    "llamacpp": ("llamacpp", None),
}


def deploy_seconds(api: dict, setting: str, env: dict) -> float:
    engine, dtype = SETTINGS[setting]
    config = {k: v for k, v in api["predictor"].get("config", {}).items() if k != "dtype"}
    config |= {"engine": engine} | ({"dtype": dtype} if dtype else {})
    api = {**api, "predictor": {**api["predictor"], "config": config}}
    api.pop("networking", None)  # the compose page is not part of a start
    with tempfile.TemporaryDirectory(prefix=f"cold-{api['name']}-{engine}-") as folder:
        # Only project files are deployed: the predictor goes into the temporary project.
        (Path(folder) / "predictors").mkdir()
        shutil.copy(REPO / api["predictor"]["path"], Path(folder) / api["predictor"]["path"])
        spec = Path(folder) / "cortex.yaml"
        spec.write_text(yaml.safe_dump([api], sort_keys=False))
        cli = [sys.executable, "-m", "mlserve.cli"]
        started = time.monotonic()
        done = subprocess.run([*cli, "deploy", str(spec)], cwd=folder, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        subprocess.run([*cli, "delete", "--all", "--spec", str(spec)], cwd=folder, env=env, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"deploy of {api['name']} on {setting} failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh-cache", action="store_true", help="deploy with an empty model cache")
    args = parser.parse_args(argv)
    seed = {api["name"]: api for api in yaml.safe_load((REPO / "cortex.yaml").read_text())}
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    print(f"{'api':16} {'setting':13} deploy -> ready ({'empty' if args.fresh_cache else 'current'} model cache)")
    for name in APIS:
        for setting in SETTINGS:
            if args.fresh_cache:
                env["MLSERVE_MODEL_CACHE"] = tempfile.mkdtemp(prefix="cold-cache-")
            print(f"{name:16} {setting:13} {deploy_seconds(seed[name], setting, env):6.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
