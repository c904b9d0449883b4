"""`rag loadtest --hostile`: normal chats and every attack at once against a real uvicorn server; the
report refuses to pass when an attack gets through or a bound is broken."""

from __future__ import annotations

import json
import os

from eval.hostile import attacker_for, hostile_load_test
from eval.hostile_attacks import ATTACKS
from tests.security.test_server import scripted
from tests.ui.servers import running
from ui.api import create_api

from ..conftest import run


def secured_app(settings, **update):
    settings = settings.model_copy(
        update={"api_token": "s3cret-token", "allowed_hosts": [], "request_body_seconds": 2.0, **update}
    )
    return settings, create_api(settings, engines=scripted(settings))


def test_normal_chats_all_succeed_while_every_attack_is_refused(ingested):
    settings, app = secured_app(ingested)
    with running(app) as url:
        report = hostile_load_test(
            url,
            requests=40,
            concurrency=8,
            hostile=2 * len(ATTACKS),
            token="s3cret-token",
            pid=os.getpid(),
            probes=20,
            timeout=30,
            max_p95_ratio=1000,
        )
    assert report.attacker_address == "127.0.0.2"
    assert (report.normal["ok"], report.normal["failures"]) == (40, 0)
    assert set(report.attacks) == {a[0] for a in ATTACKS}
    for name, outcome in report.attacks.items():
        assert outcome["sent"] == outcome["refused"] == 2, (name, outcome)
    assert report.attacks["slow-body"]["statuses"] == {"408": 2} or "429" in report.attacks["slow-body"]["statuses"]
    assert report.attacks["cross-site-ingest"]["statuses"] == {"403": 2}
    assert report.probe_unloaded_ms["n"] == 20 and report.probe_loaded_ms["n"] >= 1 and report.p95_ratio > 0
    assert report.rss_mb["peak"] >= report.rss_mb["before"] > 0
    assert report.passed, report.failures
    assert not (settings.store / "uploads").exists()  # nothing was planted


def test_an_attack_that_gets_through_and_a_broken_bound_fail_the_report(ingested):
    # a server told to answer for the attacker's host name lets the rebound request in: the report must say so
    settings, app = secured_app(ingested, allowed_hosts=["attacker.example"], api_token=None)
    with running(app) as url:
        report = hostile_load_test(
            url,
            endpoint="retrieve",
            requests=16,
            concurrency=4,
            hostile=len(ATTACKS),
            probes=5,
            timeout=30,
            max_p95_ratio=1e-6,
        )
    assert "wrong-key" not in report.attacks  # no credentials: nothing to guess
    assert report.attacks["rebound-host"]["statuses"] == {"200": 1}
    assert report.attacks["rebound-host"]["unsafe"] == ["HTTP 200"]
    assert not report.passed and any("rebound-host (1)" in f for f in report.failures)
    assert any("p95 grew" in f for f in report.failures)
    assert report.normal["failures"] == 0 and "FAILED" in report.summary()


def test_rag_loadtest_hostile_prints_the_report_and_its_verdict(ingested, capsys):
    settings, app = secured_app(ingested)
    with running(app) as url:
        code, out, _ = run(
            capsys,
            "loadtest",
            "--url",
            url,
            "--endpoint",
            "chat",
            "--requests",
            "16",
            "--hostile",
            "12",
            "--api-token",
            "s3cret-token",
            "--pid",
            str(os.getpid()),
            "--max-p95-ratio",
            "1000",
            "--max-tokens",
            "16",
            "--json",
        )
    report = json.loads(out)
    assert code == 0 and report["passed"] and report["normal"]["ok"] == 16
    assert sum(a["refused"] for a in report["attacks"].values()) == 12
    code, out, _ = run(capsys, "loadtest", "--url", url, "--hostile", "-1")
    assert code != 0


def test_rag_loadtest_hostile_0_is_the_same_measured_run_without_attacks(ingested, capsys):
    settings, app = secured_app(ingested)
    with running(app) as url:
        code, out, _ = run(
            capsys,
            "loadtest",
            "--url",
            url,
            "--requests",
            "16",
            "--hostile",
            "0",
            "--api-token",
            "s3cret-token",
            "--pid",
            str(os.getpid()),
            "--max-p95-ratio",
            "1000",
            "--json",
        )
    report = json.loads(out)
    assert code == 0 and report["passed"] and report["normal"]["ok"] == 16
    assert sum(a["sent"] for a in report["attacks"].values()) == 0
    assert report["rss_mb"]["before"] > 0 and report["probe_loaded_ms"]["p95"] > 0


def test_attacks_come_from_another_loopback_address_only_for_a_loopback_server():
    assert attacker_for("http://localhost:7860", None) == ("http://127.0.0.1:7860", "127.0.0.2")
    assert attacker_for("http://127.0.0.1:7860", None) == ("http://127.0.0.1:7860", "127.0.0.2")
    assert attacker_for("https://chat.example.org", None) == ("https://chat.example.org", None)
    assert attacker_for("http://127.0.0.1:7860", "") == ("http://127.0.0.1:7860", None)
