"""Runtime memory while 10 clients send unfinished 20 MB request heads: with the runtime's
guarded protocol (cut off at 64 KiB with 431) against plain httptools (the whole head buffered).

    .venv/bin/python bench/header_memory.py
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script
from bench.servers import free_port  # noqa: E402

LAUNCHER = Path(__file__).resolve().parent / "runtime_launcher.py"


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) // 1024


def unfinished_head(port: int, sockets: list) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sockets.append(sock)
    sock.sendall(b"POST /noop HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for _ in range(20 * 16):
            sock.sendall(b"a" * 65536)
    except OSError:
        pass  # cut off by the server


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "noop.py").write_text("class Noop:\n    def predict(self, payload):\n        return 1\n")
        (folder / "cortex.yaml").write_text("- name: noop\n  predictor: {path: noop.py}\n")
        for http, name in (("auto", "runtime (guarded httptools)"), ("httptools", "plain httptools")):
            port = free_port()
            proc = subprocess.Popen([sys.executable, str(LAUNCHER), "--spec", str(folder / "cortex.yaml"),
                                     "--api", "noop", "--port", str(port), "--http", http],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(600):
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                before, sockets = rss_mb(proc.pid), []
                threads = [threading.Thread(target=unfinished_head, args=(port, sockets)) for _ in range(10)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                time.sleep(1)
                print(f"{name:>28}: RSS {before} MB -> {rss_mb(proc.pid)} MB")
                for sock in sockets:
                    sock.close()
            finally:
                proc.terminate()
                proc.wait(30)


if __name__ == "__main__":
    main()
