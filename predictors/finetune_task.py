"""TaskAPI: `mlserve finetune` as a job. Text in, a model folder out that the story API serves.

Submit (`mlserve predict finetune job.json --wait`, or POST the endpoint):
  {"config": {"text": "s3://bucket/plays/",            # or a file/folder: absolute, or in the project
              "output": "s3://bucket/story-tuned",      # or an absolute local folder
              "steps": 4}}                               # any knob below, over cortex.yaml's defaults
then list `{name: tuned, path: s3://bucket/story-tuned}` in the story API's multi_model_reloading
paths and `mlserve deploy`: the running API loads it without a restart (README "Jobs").

Config: text, output (required); base (the model to start from, default SmolLM2-135M) and the
training knobs of `mlserve finetune` (mlserve.finetune.Settings): seq_len, batch_size, grad_accum,
steps, lr, warmup, lora, lora_rank, eval_fraction, eval_blocks, seed, threads, save_every; `resume:
true` continues a local output's checkpoint (as `--resume`). An s3:// text is
downloaded first (one object, or every object under a prefix); an s3:// output is trained into a
temporary folder and uploaded as a mirror of it (`mlserve models push`). Credentials and endpoint
come from the environment, as for every AWS tool.
"""

import json
import os
import tempfile
from dataclasses import fields
from pathlib import Path

from mlserve.finetune import Settings, finetune
from mlserve.models import s3

PROJECT = Path(__file__).resolve().parents[1]  # relative text paths are files of the deployed project
KNOBS = {f.name for f in fields(Settings)} - {"files"}


class Task:
    def __call__(self, config):
        missing = [k for k in ("text", "output") if not config.get(k)]
        if missing:
            raise ValueError(f"config needs {' and '.join(missing)}: the training text (a file, folder or "
                             "s3:// object) and where the model goes (an absolute folder or an s3:// prefix)")
        output = str(config["output"])
        if not (s3.is_s3(output) or os.path.isabs(output)):
            raise ValueError(f"config.output must be an absolute folder or an s3:// prefix, got {output!r}")
        unknown = sorted(set(config) - KNOBS - {"text", "output", "resume"})
        if unknown:
            raise ValueError(f"config has unknown keys {unknown}; the knobs are {sorted(KNOBS)}")
        settings = Settings(**{k: v for k, v in config.items() if k in KNOBS})
        with tempfile.TemporaryDirectory(prefix="finetune-") as work:
            text = _local_text(str(config["text"]), Path(work) / "text")
            target = Path(work) / "model" if s3.is_s3(output) else Path(output)
            report = finetune([text], target, settings, resume=bool(config.get("resume")), say=_say)
            if s3.is_s3(output):
                s3.push(target, output, _say)
        _say(f"done: {output}: held-out loss {report['held_out']['loss_before']} -> "
             f"{report['held_out']['loss_after']}")
        _say(json.dumps(report["held_out"]))
        return report


def _local_text(text, work):
    if s3.is_s3(text):
        return s3.fetch(text, work, on_progress=_say)
    return Path(text) if os.path.isabs(text) else PROJECT / text


def _say(line):
    print(line, flush=True)
