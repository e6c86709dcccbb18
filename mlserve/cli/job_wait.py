"""`mlserve predict JOB_API job.json --wait`: submit a job and follow it with a progress bar."""

from __future__ import annotations

import json
import time

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mlserve.client import Client
from mlserve.jobs.store import TERMINAL

POLL_S = 0.5


def submit_and_wait(client: Client, api: str, body: bytes, where: str) -> None:
    try:
        submission = json.loads(body)
    except ValueError as e:
        raise typer.BadParameter(f"{where} is not JSON: {e}", param_hint="PAYLOAD.json") from None
    record = client.submit_job(api, submission)
    job_id = record["job_id"]
    console = Console(stderr=True)
    console.print(f"job {job_id} submitted to {api}", highlight=False)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(record["status"], total=record.get("batches_total") or None)
        while record["status"] not in TERMINAL:
            time.sleep(POLL_S)
            record = client.job(api, job_id)
            done = record.get("batches_succeeded", 0) + record.get("batches_failed", 0)
            bar.update(task, description=record["status"], completed=done,
                       total=record.get("batches_total") or None)
    typer.echo(json.dumps(record, indent=2))
    if record["status"] != "succeeded":
        console.print(f"job {job_id} ended {record['status']}: `mlserve logs {api} --job {job_id}` shows why",
                      highlight=False)
        raise typer.Exit(1)
