"""BatchAPI: translate a folder of English text files into German, one result file per input.

Submit a job (local paths are relative to the project folder; on a cluster use s3_paths and an
s3:// out):
  {"workers": 1,
   "file_path_lister": {"paths": ["docs/"], "includes": ["*.txt"], "batch_size": 2},
   "config": {"out": "/abs/folder/translated"}}           # or "s3://bucket/translated"

Each input `<name>.txt` becomes `<out>/<name>.de.txt`, its lines and sentences kept. Delivery is at
least once, so a batch may run twice: each result is written under a temporary name keyed by the
batch id and then renamed over the final one (on S3 one put replaces it), so a rerun overwrites and
never duplicates. The translation is the translator API's own code and model (predictors/translator.py):
`config` takes the same keys (model, engine, dtype, threads...).
"""

import os
from pathlib import PurePosixPath

from predictors.translator import TranslatorPredictor


class FolderTranslator:
    def __init__(self, config, job_spec):
        if not config.get("out"):
            raise ValueError('the job\'s config needs "out": the folder (absolute) or s3:// prefix to write to, '
                             'e.g. {"config": {"out": "/abs/folder/translated"}}')
        self.out = str(config["out"]).rstrip("/")
        if not (self.out.startswith("s3://") or os.path.isabs(self.out)):
            raise ValueError(f"config.out must be an absolute folder or an s3:// prefix, got {self.out!r}")
        self.translator = TranslatorPredictor(config)

    def predict(self, payload, batch_id):
        texts = [_read(path) for path in payload]
        wanted = [i for i, text in enumerate(texts) if text.strip()]  # an empty file has an empty translation
        answers = self.translator.predict([{"text": texts[i]} for i in wanted]) if wanted else []
        translated = dict(zip(wanted, (a["translation"] for a in answers), strict=True))
        for i, path in enumerate(payload):
            name = PurePosixPath(path).name.removesuffix(".txt") + ".de.txt"
            _write(f"{self.out}/{name}", translated.get(i, "") + "\n", batch_id)
            print(f"batch {batch_id}: {path} -> {self.out}/{name}", flush=True)


def _s3(url):
    import boto3

    bucket, _, key = url.removeprefix("s3://").partition("/")
    return boto3.client("s3"), bucket, key


def _read(path):
    if path.startswith("s3://"):
        s3, bucket, key = _s3(path)
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    with open(path, encoding="utf-8") as f:
        return f.read()


def _write(target, text, batch_id):
    if target.startswith("s3://"):
        s3, bucket, key = _s3(target)
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType="text/plain; charset=utf-8")
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.{batch_id}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, target)
