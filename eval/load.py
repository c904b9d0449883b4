"""`rag loadtest`: a bounded load test of a running `rag serve` (or any server speaking its API).

N requests at concurrency C against one endpoint, each with its own question; every request that
does not come back 200 with a well-formed body counts as a failure, and the report gives
throughput and latency percentiles. The whole run is bounded by a deadline, so an overloaded
server makes a failed report rather than a hung command.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from .measures import percentiles

ENDPOINTS = ("retrieve", "chat", "health")
DEFAULT_QUESTIONS = (
    "who wrote the origin of species",
    "what is the capital of australia",
    "how do vaccines work",
    "when did the roman empire fall",
    "what causes the seasons on earth",
    "who painted the mona lisa",
    "how does photosynthesis work",
    "what is the speed of light",
)


@dataclass
class LoadReport:
    url: str
    endpoint: str
    requests: int
    concurrency: int
    ok: int = 0
    failures: int = 0
    seconds: float = 0.0
    throughput_per_s: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # the first few, for the reader
    timed_out: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lat = self.latency_ms
        line = (
            f"{self.endpoint} at {self.url}: {self.requests} requests, concurrency {self.concurrency}: "
            f"{self.ok} ok, {self.failures} failed in {self.seconds:.1f} s "
            f"({self.throughput_per_s:.1f} requests/s)"
        )
        if lat:
            line += f"; latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, p99 {lat['p99']:.0f} ms"
        lines = [line] + [f"  error: {e}" for e in self.errors]
        if self.timed_out:
            lines.append("  the deadline passed before every request was answered")
        return "\n".join(lines)


def _request(
    endpoint: str, question: str, k: int, collection: str | None, extra: dict | None = None
) -> tuple[str, str, dict | None]:
    if endpoint == "health":
        return "GET", "/healthz", None
    if endpoint == "retrieve":
        return "POST", "/v1/retrieve", {"query": question, "k": k, **({"collection": collection} if collection else {})}
    return (
        "POST",
        "/v1/chat/completions",
        {"model": collection or "rag", **(extra or {}), "messages": [{"role": "user", "content": question}]},
    )


def _well_formed(endpoint: str, body: Any) -> bool:
    if endpoint == "health":
        return isinstance(body, dict) and body.get("status") == "ok"
    if endpoint == "retrieve":
        return isinstance(body, dict) and isinstance(body.get("data"), list)
    return isinstance(body, dict) and bool(body.get("choices")) and "sources" in body


def load_test(
    url: str,
    *,
    endpoint: str = "retrieve",
    requests: int = 200,
    concurrency: int = 8,
    questions: Sequence[str] = DEFAULT_QUESTIONS,
    k: int = 20,
    collection: str | None = None,
    token: str | None = None,
    timeout: float = 60.0,
    deadline: float = 600.0,
    extra: dict | None = None,
) -> LoadReport:
    """Send `requests` requests, `concurrency` at a time; each waits at most `timeout` seconds. `extra`
    goes into each chat request's body (`max_tokens`, say)."""
    import httpx

    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}, not {endpoint!r}")
    url = url.rstrip("/")
    report = LoadReport(url=url, endpoint=endpoint, requests=requests, concurrency=concurrency)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    local = threading.local()
    lock = threading.Lock()
    latencies: list[float] = []
    clients: list[Any] = []
    stop_at = time.monotonic() + deadline

    def one(i: int) -> None:
        if time.monotonic() > stop_at:
            with lock:
                report.failures += 1
                report.timed_out = True
            return
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, headers=headers, timeout=timeout)
            with lock:
                clients.append(local.client)
        method, path, body = _request(endpoint, questions[i % len(questions)], k, collection, extra)
        started = time.perf_counter()
        error = None
        try:
            reply = local.client.request(method, path, json=body)
            if reply.status_code != 200:
                error = f"HTTP {reply.status_code}: {reply.text[:200]}"
            elif not _well_formed(endpoint, reply.json()):
                error = f"malformed reply: {reply.text[:200]}"
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed = 1000 * (time.perf_counter() - started)
        with lock:
            if error is None:
                report.ok += 1
                latencies.append(elapsed)
            else:
                report.failures += 1
                if len(report.errors) < 5:
                    report.errors.append(error)

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, range(requests)))
    finally:
        for client in clients:
            client.close()
    report.seconds = round(time.perf_counter() - started, 2)
    report.throughput_per_s = round(report.ok / report.seconds, 1) if report.seconds else 0.0
    if latencies:
        report.latency_ms = percentiles(latencies)
    return report
