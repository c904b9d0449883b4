"""A bounded load test of the real HTTP server: 200 requests at concurrency 8, no failure."""

import json

from eval.load import load_test
from ui import create_api

from ..rag.conftest import run
from .servers import running
from .test_api import scripted_engines


def test_the_server_answers_200_retrievals_and_100_chats_at_concurrency_8_without_a_failure(ingested):
    with running(create_api(ingested, engines=scripted_engines(ingested))) as url:
        retrieve = load_test(url, endpoint="retrieve", requests=200, concurrency=8, k=5, deadline=120)
        chat = load_test(url, endpoint="chat", requests=100, concurrency=8, deadline=120)
    for report, n in ((retrieve, 200), (chat, 100)):
        assert (report.ok, report.failures, report.errors, report.timed_out) == (n, 0, [], False)
        assert report.throughput_per_s > 0 and 0 < report.latency_ms["p50"] <= report.latency_ms["p95"]
        assert report.latency_ms["n"] == n


def test_rag_loadtest_counts_refused_requests_as_failures(ingested, capsys):
    secured = ingested.model_copy(update={"api_token": "s3cret-token"})
    with running(create_api(secured, engines=scripted_engines(secured))) as url:
        code, out, _ = run(capsys, "loadtest", "--url", url, "--requests", "12", "--concurrency", "3", "--json")
        refused = json.loads(out)
        assert code == 1 and refused["failures"] == 12 and refused["errors"][0].startswith("HTTP 401")
    # a new server: this one now throttles the address that failed 12 times, right token or not
    with running(create_api(secured, engines=scripted_engines(secured))) as url:
        code, out, _ = run(
            capsys, "loadtest", "--url", url, "--requests", "12", "--concurrency", "3", "--api-token", "s3cret-token"
        )
        assert code == 0 and "12 ok, 0 failed" in out and "p95" in out
    code, out, _ = run(capsys, "loadtest", "--url", url, "--requests", "2", "--timeout", "2")  # the server is gone
    assert code == 1 and "0 ok, 2 failed" in out and "ConnectError" in out
