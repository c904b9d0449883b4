"""`rag loadtest --hostile N`: normal traffic and attacks at once, against a running server.

First `/v1/retrieve` is timed unloaded, one probe at a time. Then three things run together: the normal
requests (`requests` at `concurrency`, each must come back 200 and well formed), `hostile` attacks from
another loopback address (so the server's throttling of the attacker does not refuse the users), and the
same probe. The server's resident memory is sampled throughout when its pid is known (`--pid`, or the
store's `server.json`). The report says whether every attack was refused the way it should be (its own
4xx, never a 5xx, a hang or a success), how much the server grew, and the probe's p95 under attack
against unloaded.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .hostile_attacks import ATTACKS, Target
from .load import DEFAULT_QUESTIONS, LoadReport, load_test
from .measures import percentiles

logger = logging.getLogger(__name__)

ATTACKER_ADDRESS = "127.0.0.2"  # all of 127.0.0.0/8 is this machine on Linux: a second client address


@dataclass
class HostileReport:
    """What `rag loadtest --hostile` measured; `passed` says whether every bound held."""

    url: str
    normal: dict
    attacks: dict[str, dict] = field(default_factory=dict)  # name -> {"sent", "refused", "statuses", "unsafe"}
    attacker_address: str | None = None
    probe_unloaded_ms: dict[str, float] = field(default_factory=dict)
    probe_loaded_ms: dict[str, float] = field(default_factory=dict)
    p95_ratio: float | None = None
    rss_mb: dict[str, float] = field(default_factory=dict)  # before, peak, after, growth (peak - before)
    bounds: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # each bound that did not hold, in words
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}

    def summary(self) -> str:
        n = self.normal
        lines = [
            f"hostile load test of {self.url} in {self.seconds:.0f} s",
            f"normal {n['endpoint']}: {n['ok']} ok, {n['failures']} failed of {n['requests']} at concurrency "
            f"{n['concurrency']}"
            + (
                f" (p50 {n['latency_ms']['p50']:.0f} ms, p95 {n['latency_ms']['p95']:.0f} ms)"
                if n.get("latency_ms")
                else ""
            ),
        ]
        lines += [f"  error: {e}" for e in n.get("errors", [])]
        sent = sum(a["sent"] for a in self.attacks.values())
        refused = sum(a["refused"] for a in self.attacks.values())
        lines.append(
            f"attacks from {self.attacker_address or 'the same address'}: {refused} of {sent} refused as they should be"
        )
        for name, a in self.attacks.items():
            statuses = ", ".join(f"{s}x{c}" for s, c in sorted(a["statuses"].items()))
            lines.append(
                f"  {name}: {a['refused']}/{a['sent']} ({statuses})"
                + (f"; UNSAFE: {a['unsafe']}" if a["unsafe"] else "")
            )
        if self.probe_loaded_ms:
            lines.append(
                f"/v1/retrieve p95: {self.probe_unloaded_ms['p95']:.0f} ms unloaded, "
                f"{self.probe_loaded_ms['p95']:.0f} ms under load ({self.p95_ratio:.2f}x; "
                f"bound {self.bounds['p95_ratio']:.1f}x)"
            )
        if self.rss_mb:
            lines.append(
                f"server RSS: {self.rss_mb['before']:.0f} MB before, {self.rss_mb['peak']:.0f} MB at peak, "
                f"{self.rss_mb['after']:.0f} MB after: +{self.rss_mb['growth']:.0f} MB "
                f"(bound +{self.bounds['rss_growth_mb']:.0f} MB)"
            )
        else:
            lines.append("server RSS: not measured (pass --pid, or run on the server's machine and store)")
        lines.append("PASSED: every bound held" if self.passed else "FAILED: " + "; ".join(self.failures))
        return "\n".join(lines)


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (Linux /proc), or None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def server_pid(store: Path, url: str) -> int | None:
    """The pid of the `rag serve` that owns `store`, if it listens on `url`'s port."""
    from rag.store_owner import running_server

    record = running_server(store)
    if not record:
        return None
    if urlsplit(str(record.get("url", ""))).port != urlsplit(url).port:
        return None
    return int(record["pid"])


def attacker_for(url: str, requested: str | None) -> tuple[str, str | None]:
    """The URL the attacks use and the address they come from: another loopback address for a loopback
    server (a real attacker is not the users' address), else the machine's own (said in the report)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host == "localhost":
        url = url.replace("//localhost", "//127.0.0.1", 1)
        host = "127.0.0.1"
    if requested is not None:
        return url, requested or None
    return url, ATTACKER_ADDRESS if host.startswith("127.") else None


def _probe(
    url: str,
    token: str | None,
    collection: str | None,
    *,
    n: int | None,
    stop: threading.Event,
    timeout: float,
    questions: Sequence[str],
) -> tuple[list[float], list[str]]:
    """Sequential retrievals; `n` of them, or until `stop` is set. Returns latencies (ms) and errors."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"k": 20, **({"collection": collection} if collection else {})}
    with httpx.Client(base_url=url, headers=headers, timeout=timeout) as client:
        for i in itertools.count():
            if (n is not None and i >= n) or (n is None and stop.is_set()):
                break
            started = time.perf_counter()
            try:
                reply = client.post("/v1/retrieve", json={**body, "query": questions[i % len(questions)]})
                if reply.status_code == 200:
                    latencies.append(1000 * (time.perf_counter() - started))
                else:
                    errors.append(f"HTTP {reply.status_code}: {reply.text[:200]}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            if n is None:
                stop.wait(0.05)  # a probe, not part of the load
    return latencies, errors


class _Attacker:
    """Sends the attacks (round robin over `attacks`), one client per thread, and tallies each one's outcome."""

    def __init__(self, attacks: Sequence[tuple], target: Callable[[], Target], secured: bool) -> None:
        self.attacks, self.target, self.secured = attacks, target, secured
        self.outcomes: dict[str, dict] = {
            a[0]: {"sent": 0, "refused": 0, "statuses": Counter(), "unsafe": []} for a in attacks
        }
        self._lock = threading.Lock()
        self._local = threading.local()

    def __call__(self, i: int) -> None:
        import httpx

        name, expected, _, run = self.attacks[i % len(self.attacks)]
        target = self.target()
        if not hasattr(self._local, "client"):
            self._local.client = target.client()
        try:
            status = run(target, self._local.client, i)
        except (httpx.HTTPError, OSError, json.JSONDecodeError) as exc:
            status, detail = None, f"{type(exc).__name__}: {exc}"
        else:
            detail = f"HTTP {status}" if status is not None else "no answer"
        ok = status in expected or (self.secured and status == 429)  # a throttled attacker is refused too
        with self._lock:
            o = self.outcomes[name]
            o["sent"] += 1
            o["statuses"][str(status)] += 1
            if ok:
                o["refused"] += 1
            elif len(o["unsafe"]) < 3:
                o["unsafe"].append(detail)

    def unsafe(self) -> dict[str, int]:
        """Attacks that got something other than their refusal, with how many times."""
        return {k: v["sent"] - v["refused"] for k, v in self.outcomes.items() if v["sent"] != v["refused"]}


class _Sampler:
    """A background thread that reads a process's resident memory four times a second until stopped."""

    def __init__(self, pid: int, stop: threading.Event) -> None:
        self.pid, self.stop, self.samples = pid, stop, []
        self.before = rss_mb(pid)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            if (value := rss_mb(self.pid)) is not None:
                self.samples.append(value)
            self.stop.wait(0.25)


def hostile_load_test(
    url: str,
    *,
    endpoint: str = "chat",
    requests: int = 200,
    concurrency: int = 8,
    hostile: int = 50,
    questions: Sequence[str] = DEFAULT_QUESTIONS,
    collection: str | None = None,
    token: str | None = None,
    pid: int | None = None,
    attacker: str | None = None,
    probes: int = 50,
    max_tokens: int | None = None,
    timeout: float = 120.0,
    deadline: float = 1800.0,
    max_rss_growth_mb: float = 200.0,
    max_p95_ratio: float = 2.0,
) -> HostileReport:
    """Run the hostile load test (see the module docstring) and judge it against the two bounds."""
    url = url.rstrip("/")
    attack_url, address = attacker_for(url, attacker)
    secured = token is not None
    report = HostileReport(
        url=url,
        normal={},
        attacker_address=address,
        bounds={"rss_growth_mb": max_rss_growth_mb, "p95_ratio": max_p95_ratio},
    )
    started = time.perf_counter()
    extra = {"max_tokens": max_tokens} if max_tokens else {}
    load = dict(
        endpoint=endpoint,
        questions=questions,
        collection=collection,
        token=token,
        timeout=timeout,
        deadline=deadline,
        extra=extra,
    )

    if not _warm_and_probe(report, min(requests, concurrency), concurrency, load, probes):
        return report

    stop = threading.Event()
    sampler = _Sampler(pid, stop) if pid else None
    attacker_ = _Attacker(
        [a for a in ATTACKS if secured or not a[2]],
        lambda: Target(attack_url, token, collection, address, timeout),
        secured,
    )
    probe_result: dict[str, Any] = {}

    def probe() -> None:
        probe_result["latencies"], probe_result["errors"] = _probe(
            url, token, collection, n=None, stop=stop, timeout=timeout, questions=questions
        )

    threads = [threading.Thread(target=probe, daemon=True)] + ([sampler.thread] if sampler else [])
    for t in threads:
        t.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            hostile_done = pool.map(attacker_, range(hostile))
            normal: LoadReport = load_test(url, requests=requests, concurrency=concurrency, **load)
            list(hostile_done)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout + 5)
    _judge(report, normal, attacker_, probe_result, sampler)
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def _warm_and_probe(report: HostileReport, requests: int, concurrency: int, load: dict, probes: int) -> bool:
    """Warm the server (models load on first use: that is not growth under attack), then time retrieval
    unloaded, the probe's baseline; False (with the failure in the report) when either fails."""
    warm = load_test(report.url, requests=requests, concurrency=concurrency, **load)
    if warm.failures:
        report.normal = warm.to_dict()
        report.failures.append(f"the server failed {warm.failures} of {warm.requests} warm-up requests")
        return False
    unloaded, errors = _probe(
        report.url,
        load["token"],
        load["collection"],
        n=probes,
        stop=threading.Event(),
        timeout=load["timeout"],
        questions=load["questions"],
    )
    if not unloaded:
        report.failures.append(f"no unloaded retrieval succeeded: {errors[:1]}")
        return False
    report.probe_unloaded_ms = percentiles(unloaded)
    return True


def _judge(
    report: HostileReport, normal: LoadReport, attacker: _Attacker, probe: dict[str, Any], sampler: _Sampler | None
) -> None:
    """Fill the report with what was measured, and a failure in words for each bound that did not hold."""
    report.normal = normal.to_dict()
    report.attacks = {k: {**v, "statuses": dict(v["statuses"])} for k, v in attacker.outcomes.items()}
    if normal.failures:
        report.failures.append(f"{normal.failures} of {normal.requests} normal requests failed")
    if unsafe := attacker.unsafe():
        report.failures.append(
            "attacks not refused as they should be: " + ", ".join(f"{k} ({n})" for k, n in unsafe.items())
        )
    loaded = probe.get("latencies") or []
    if probe.get("errors"):
        report.failures.append(f"{len(probe['errors'])} retrieval probes failed under load: {probe['errors'][0]}")
    if loaded:
        report.probe_loaded_ms = percentiles(loaded)
        report.p95_ratio = round(report.probe_loaded_ms["p95"] / max(report.probe_unloaded_ms["p95"], 1e-3), 2)
        if report.p95_ratio >= report.bounds["p95_ratio"]:
            report.failures.append(
                f"/v1/retrieve p95 grew {report.p95_ratio:.2f}x under load (bound {report.bounds['p95_ratio']:.1f}x)"
            )
    if sampler is None:
        return
    after = rss_mb(sampler.pid)
    if sampler.before is None or not sampler.samples:
        logger.warning("could not read the memory of pid %d: RSS not reported", sampler.pid)
        return
    peak = max([sampler.before, *sampler.samples, after or 0.0])
    report.rss_mb = {
        "before": round(sampler.before, 1),
        "peak": round(peak, 1),
        "after": round(after or peak, 1),
        "growth": round(peak - sampler.before, 1),
    }
    if peak - sampler.before >= report.bounds["rss_growth_mb"]:
        report.failures.append(
            f"the server grew {peak - sampler.before:.0f} MB (bound {report.bounds['rss_growth_mb']:.0f} MB)"
        )
