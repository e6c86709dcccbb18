"""An open-loop HTTP/1.1 load generator on raw asyncio streams with keep-alive.

Open loop: every request has a send time fixed in advance (Poisson or uniform arrivals at the
offered rate); a slow server does not slow the sending, and latency is measured from the
*scheduled* send time, so client lag counts against the server rather than hiding it.
Raw streams instead of an HTTP library keep the client's CPU cost per request small, which
matters when the client and the server share two cores.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass


@dataclass
class Sample:
    """One request. Times are `time.perf_counter()` seconds."""

    intended: float  # scheduled send time
    sent: float = 0.0  # when the request bytes were written
    first_event: float | None = None  # first SSE `data:` chunk (time to first token)
    done: float = 0.0
    status: int = 0  # HTTP status; 0 when no response (timeout, connection error)
    error: str | None = None

    @property
    def latency(self) -> float:
        return self.done - self.intended

    @property
    def ttft(self) -> float | None:
        return None if self.first_event is None else self.first_event - self.intended


def schedule(rate: float, duration: float, *, poisson: bool = True, seed: int = 0) -> list[float]:
    """Send offsets (seconds from start) for `rate` requests/s over `duration` seconds."""
    if rate <= 0 or duration <= 0:
        return []
    if not poisson:
        return [i / rate for i in range(int(rate * duration))]
    rng, offsets, t = random.Random(seed), [], 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            return offsets
        offsets.append(t)


def build_request(host: str, port: int, path: str, body: bytes, *, stream: bool = False) -> bytes:
    accept = "text/event-stream" if stream else "application/json"
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: {accept}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


class _Conn:
    __slots__ = ("reader", "writer", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()

    def close(self) -> None:
        self.writer.close()


async def _read_response(conn: _Conn, sample: Sample) -> bool:
    """Read one response into `sample`; True when the connection can be reused."""
    head = await conn.reader.readuntil(b"\r\n\r\n")
    sample.status = int(head[9:12])
    lower = head.lower()
    keep = b"connection: close" not in lower
    if b"transfer-encoding: chunked" in lower:
        body = bytearray()
        while True:
            size = int((await conn.reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (await conn.reader.readline()) not in (b"\r\n", b""):
                    pass  # trailers
                break
            chunk = await conn.reader.readexactly(size + 2)
            if sample.first_event is None and b"data:" in chunk:
                sample.first_event = time.perf_counter()
            if sample.status >= 400 and len(body) < 300:
                body += chunk
    else:
        start = lower.find(b"content-length:")
        if start < 0:
            body, keep = await conn.reader.read(), False
        else:
            length = int(lower[start + 15:lower.index(b"\r\n", start)])
            body = await conn.reader.readexactly(length)
    if sample.status >= 400:
        sample.error = f"HTTP {sample.status}: {bytes(body[:200]).decode(errors='replace')}"
    return keep


class Client:
    """A pool of keep-alive connections to one server; each request takes an idle connection."""

    # Servers close idle keep-alive connections (uvicorn after 5 s); never reuse one idle this long.
    MAX_IDLE = 2.0

    def __init__(self, host: str, port: int, *, timeout: float = 10.0, max_connections: int = 512):
        self.host, self.port, self.timeout = host, port, timeout
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def _connect(self) -> _Conn:
        return _Conn(*await asyncio.open_connection(self.host, self.port))

    async def warm(self, n: int) -> None:
        """Open `n` connections up front so connecting does not land inside the measurement."""
        self._idle.extend(await asyncio.gather(*(self._connect() for _ in range(max(0, n - len(self._idle))))))

    async def send(self, request: bytes, sample: Sample) -> Sample:
        async with self._slots:
            conn = self._take_idle()
            try:
                if conn is None:
                    conn = await self._connect()
                sample.sent = time.perf_counter()
                conn.writer.write(request)
                async with asyncio.timeout(self.timeout):  # no extra task, unlike wait_for
                    keep = await _read_response(conn, sample)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                sample.status = 0
                sample.error = "timeout" if isinstance(exc, asyncio.TimeoutError) else f"{type(exc).__name__}: {exc}"
                keep = False
            sample.done = time.perf_counter()
            if conn is not None:
                if keep:
                    conn.idle_since = time.monotonic()
                    self._idle.append(conn)
                else:
                    conn.close()
            return sample

    def _take_idle(self) -> _Conn | None:
        # Most recently used first, so a steady load keeps reusing warm connections.
        while self._idle:
            conn = self._idle.pop()
            if time.monotonic() - conn.idle_since < self.MAX_IDLE:
                return conn
            conn.close()
        return None

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


async def open_loop(client: Client, requests: list[bytes], offsets: list[float]) -> list[Sample]:
    """Send `requests[i % len]` at `start + offsets[i]`, never waiting for responses to send."""
    start = time.perf_counter() + 0.02
    tasks = []
    for i, offset in enumerate(offsets):
        due = start + offset
        delay = due - time.perf_counter()
        if delay > 0.0005:  # below a timer tick, sending late beats oversleeping
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(client.send(requests[i % len(requests)], Sample(due))))
    return list(await asyncio.gather(*tasks))


async def closed_loop(client: Client, requests: list[bytes], count: int, concurrency: int = 1) -> list[Sample]:
    """`concurrency` workers each sending back to back: the latency of a lone (or few) caller(s)."""
    samples: list[Sample] = []
    counter = iter(range(count))

    async def worker() -> None:
        for i in counter:
            samples.append(await client.send(requests[i % len(requests)], Sample(time.perf_counter())))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples
