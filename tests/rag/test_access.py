"""API keys, the audit log and failed-login throttling (rag/access.py), and the `rag keys` commands."""

import json
import stat
import threading
from pathlib import Path

import pytest

from rag.access import AccessError, AuditLog, KeyStore, Throttle
from retrievers.errors import RagError

from .conftest import run


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _store_bytes(store: Path) -> bytes:
    """The database with its -wal and -shm files, as they lie on disk."""
    return b"".join(p.read_bytes() for p in sorted(store.glob("access.sqlite3*")))


def test_add_verify_and_revoke(tmp_path):
    keys = KeyStore(tmp_path / "new" / "store")  # the store folder does not exist yet
    key_id, token = keys.add("alice", ["read"])
    assert key_id.startswith("rag_") and len(key_id) == 12 and token.startswith(key_id + "_")
    info = keys.verify(token)
    assert info is not None and info.id == key_id and info.name == "alice" and info.scopes == ("read",)
    assert info.collections == "*" and info.revoked is None and info.last_used is not None
    other_id, other = keys.add("bob", ["ingest"])
    assert keys.verify(other).id == other_id

    assert keys.revoke(key_id).revoked is not None
    assert keys.verify(token) is None
    assert keys.verify(other).id == other_id  # only that key stops working
    again = keys.revoke(key_id)  # revoking twice changes nothing
    assert again.revoked == keys.get(key_id).revoked
    assert [(k.id, k.revoked is not None) for k in keys.list()] == [(key_id, True), (other_id, False)]
    assert [k.id for k in keys.list(include_revoked=False)] == [other_id]
    with pytest.raises(AccessError, match="no key rag_00000000"):
        keys.revoke("rag_00000000")
    with pytest.raises(AccessError, match="not a key id"):
        keys.revoke("alice")


def test_wrong_malformed_and_foreign_tokens_fail(tmp_path):
    keys = KeyStore(tmp_path)
    key_id, token = keys.add("alice", ["read"])
    secret = token[len(key_id) + 1 :]
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (
        wrong,
        token + "x",
        key_id,
        key_id + "_",
        "rag_00000000_" + secret,
        "Bearer " + token,
        "",
        None,
        42,
        token.upper(),
        "x" * 10_000,
        "rag_ZZZZZZZZ_" + secret,
    ):
        assert keys.verify(bad) is None, bad
    assert keys.verify(token).id == key_id
    assert KeyStore(tmp_path).verify(token).id == key_id  # another connection (the server) sees the key


def test_keys_are_stored_hashed_only(tmp_path):
    keys = KeyStore(tmp_path)
    key_id, token = keys.add("alice", ["read", "ingest"], ["papers"])
    keys.verify(token)
    secret = token[len(key_id) + 1 :]
    while_open = _store_bytes(tmp_path)  # the rows are in the WAL file still
    keys.close()
    for raw in (while_open, _store_bytes(tmp_path)):  # ...and after the checkpoint, in the database file
        assert key_id.encode() in raw and b"alice" in raw
        assert secret.encode() not in raw and token.encode() not in raw
        assert secret[:16].encode() not in raw  # not even a prefix of it
    listed = KeyStore(tmp_path).list()[0]
    assert not any(secret in str(v) for v in listed.to_dict().values())
    assert set(listed.to_dict()) == {"id", "name", "scopes", "collections", "created", "revoked", "last_used"}


def test_the_database_file_is_private(tmp_path):
    store = tmp_path / "store"
    keys = KeyStore(store)
    keys.add("alice", ["read"])
    for path in store.glob("access.sqlite3*"):  # the -wal and -shm files too, while they exist
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (store / "access.sqlite3").exists()


def test_scopes_and_collection_limits(tmp_path):
    keys = KeyStore(tmp_path)
    reader = keys.verify(keys.add("r", ["read"], ["papers", "notes"])[1])
    assert reader.collections == ("notes", "papers")
    assert keys.allows(reader, "read", "papers") and keys.allows(reader, "read", "notes")
    assert not keys.allows(reader, "read", "secrets")
    assert not keys.allows(reader, "ingest", "papers")
    assert not keys.allows(reader, "read", None)  # a store-wide action needs a key for every collection
    assert not keys.allows(None, "read", "papers")

    writer = keys.verify(keys.add("w", "read,ingest", "papers")[1])
    assert writer.scopes == ("read", "ingest") and writer.collections == ("papers",)
    assert keys.allows(writer, "ingest", "papers") and not keys.allows(writer, "admin", "papers")

    everywhere = keys.verify(keys.add("e", ["read"])[1])
    assert keys.allows(everywhere, "read", "anything") and keys.allows(everywhere, "read", None)
    assert not keys.allows(everywhere, "ingest", "anything")
    with pytest.raises(AccessError, match="unknown scope 'write'"):
        keys.allows(everywhere, "write", "anything")


def test_admin_implies_the_other_scopes(tmp_path):
    keys = KeyStore(tmp_path)
    admin = keys.verify(keys.add("root", ["admin"])[1])
    assert admin.scopes == ("admin",)
    assert all(keys.allows(admin, scope, "papers") for scope in ("read", "ingest", "admin"))
    assert keys.allows(admin, "admin", None)
    limited = keys.verify(keys.add("papers-admin", ["admin"], ["papers"])[1])
    assert keys.allows(limited, "ingest", "papers") and not keys.allows(limited, "read", "notes")
    assert not keys.allows(limited, "admin", None)  # key management is store-wide


@pytest.mark.parametrize(
    "name,scopes,collections,message",
    [
        ("alice", ["write"], "*", "unknown scope 'write'"),
        ("alice", ["read", "Root"], "*", "unknown scope 'root'"),
        ("alice", [], "*", "at least one scope"),
        ("", ["read"], "*", "name is empty"),
        ("   ", ["read"], "*", "name is empty"),
        ("a\nb", ["read"], "*", "printable"),
        ("a" * 101, ["read"], "*", "printable"),
        ("alice", ["read"], ["../etc"], "invalid collection name '../etc'"),
        ("alice", ["read"], ["/abs/path"], "invalid collection name"),
        ("alice", ["read"], ["ok-name", "*"], "not both"),
        ("alice", ["read"], [], "at least one collection"),
    ],
)
def test_bad_inputs_are_clear_errors(tmp_path, name, scopes, collections, message):
    keys = KeyStore(tmp_path)
    with pytest.raises(AccessError, match=message) as caught:
        keys.add(name, scopes, collections)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, RagError)
    assert keys.list() == [] and keys.audit.entries() == []


def test_last_used_is_written_at_most_once_a_minute(tmp_path):
    clock = Clock()
    keys = KeyStore(tmp_path, clock=clock)
    key_id, token = keys.add("alice", ["read"])
    assert keys.get(key_id).last_used is None
    assert keys.verify(token).last_used == clock.now
    first = clock.now
    clock.now += 30
    assert keys.verify(token).last_used == first and keys.get(key_id).last_used == first
    clock.now += 31
    assert keys.verify(token).last_used == clock.now == keys.get(key_id).last_used


def test_verify_from_many_threads(tmp_path):
    keys = KeyStore(tmp_path)
    tokens = [keys.add(f"user{i}", ["read"])[1] for i in range(4)]
    failures: list[str] = []

    def check(token: str) -> None:
        for _ in range(50):
            if keys.verify(token) is None or keys.verify(token + "x") is not None:
                failures.append(token)

    threads = [threading.Thread(target=check, args=(t,)) for t in tokens * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_key_changes_are_audited(tmp_path):
    clock = Clock()
    keys = KeyStore(tmp_path, clock=clock)
    key_id, _ = keys.add("alice", ["read", "ingest"], ["papers"], actor="ops")
    clock.now += 5
    keys.revoke(key_id, actor="ops")
    keys.revoke(key_id, actor="ops")  # no change, no entry
    revoked, added = keys.audit.entries()
    assert (added.action, added.actor, added.target, added.at) == ("key.add", "ops", key_id, clock.now - 5)
    assert "alice" in added.detail and "read,ingest" in added.detail and "papers" in added.detail
    assert (revoked.action, revoked.target, revoked.at) == ("key.revoke", key_id, clock.now)
    assert revoked.to_dict()["at"] == "2023-11-14T22:13:25Z"


def test_audit_log_records_ingests_and_deletes(tmp_path):
    log = AuditLog(tmp_path)
    log.record("rag_0123abcd", "ingest", "papers", "3 files, 12 passages")
    log.record("cli:alice", "delete", "papers/report.pdf")
    newest, oldest = log.entries()
    assert (newest.action, newest.actor, newest.target, newest.detail) == (
        "delete",
        "cli:alice",
        "papers/report.pdf",
        "",
    )
    assert oldest.action == "ingest" and oldest.detail == "3 files, 12 passages" and newest.at >= oldest.at
    assert [e.action for e in log.entries(limit=1)] == ["delete"]
    assert len(KeyStore(tmp_path).audit.entries()) == 2  # the same file as the keys
    long = log.record("x", "ingest", "t" * 5000, "d" * 10_000)
    assert len(long.target) == 1000 and len(long.detail) == 4000 and long.detail.endswith("…")
    with pytest.raises(AccessError, match="unknown audit action 'login'"):
        log.record("x", "login", "y")
    with pytest.raises(AccessError, match="actor"):
        log.record(" ", "ingest", "y")
    with pytest.raises(AccessError, match="limit"):
        log.entries(limit=0)
    assert len(log.entries()) == 3


def test_throttle_blocks_after_n_failures_and_frees_after_the_window():
    clock = Clock(100.0)
    throttle = Throttle(limit=5, window=60.0, clock=clock)
    for _ in range(4):
        assert throttle.failure("10.0.0.1") == 0.0
        clock.now += 1
    assert throttle.blocked("10.0.0.1") == 0.0
    assert throttle.failure("10.0.0.1") == pytest.approx(56.0)  # the fifth within 60 s: blocked
    assert throttle.blocked("10.0.0.1") == pytest.approx(56.0)
    assert throttle.blocked("10.0.0.2") == 0.0  # per address
    clock.now += 55.5
    assert throttle.blocked("10.0.0.1") == pytest.approx(0.5)
    clock.now += 0.5
    assert throttle.blocked("10.0.0.1") == 0.0  # the first failure left the window
    assert throttle.failure("10.0.0.1") == pytest.approx(1.0)  # the window slides: 5 in the last 60 s again
    clock.now += 120
    assert throttle.blocked("10.0.0.1") == 0.0 and len(throttle) == 0  # forgotten once all have expired


def test_throttle_failures_spread_out_never_block_and_reset_forgets():
    clock = Clock(0.0)
    throttle = Throttle(limit=3, window=10.0, clock=clock)
    for _ in range(20):
        assert throttle.failure("a") == 0.0
        clock.now += 5.1  # fewer than 3 in any 10 s
    throttle.failure("b"), throttle.failure("b")
    assert throttle.failure("b") > 0
    throttle.reset("b")
    assert throttle.blocked("b") == 0.0


def test_throttle_memory_is_bounded():
    clock = Clock(0.0)
    throttle = Throttle(limit=2, window=60.0, max_addresses=100, clock=clock)
    throttle.failure("attacker"), throttle.failure("attacker")
    for i in range(10_000):
        throttle.failure(f"10.{i // 256}.{i % 256}.1")
        assert len(throttle) <= 100
    assert len(throttle) == 100
    assert throttle.blocked("attacker") == 0.0  # the oldest was evicted first
    assert throttle.failure("10.39.15.1") > 0  # the newest are still tracked (its second failure)


def test_throttle_is_thread_safe():
    throttle = Throttle(limit=1000, window=60.0, max_addresses=50)

    def hammer(n: int) -> None:
        for i in range(2000):
            throttle.failure(f"{n}-{i % 80}")
            throttle.blocked(f"{n}-{i % 7}")

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(throttle) <= 50


def test_cli_add_list_revoke(tmp_path, capsys):
    store = str(tmp_path / "store")
    code, out, err = run(
        capsys,
        "keys",
        "add",
        "alice",
        "--scope",
        "read",
        "--scope",
        "ingest",
        "--collection",
        "papers",
        "--collection",
        "notes",
        "--store",
        store,
    )
    token = out.strip()
    assert code == 0 and token.startswith("rag_") and out.count("\n") == 1
    assert "not shown again" in err and token not in err
    keys = KeyStore(store)
    info = keys.verify(token)
    assert info.name == "alice" and info.scopes == ("read", "ingest") and info.collections == ("notes", "papers")

    code, out, _ = run(capsys, "keys", "add", "ops", "--scope", "admin", "--store", store)
    admin_id = out.strip()[:12]
    code, out, _ = run(capsys, "keys", "list", "--store", store)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "id",
        "name",
        "scopes",
        "collections",
        "created",
        "revoked",
        "last",
        "used",
    ]
    assert lines[1].split()[:4] == [info.id, "alice", "read,ingest", "notes,papers"]
    assert lines[2].split()[:4] == [admin_id, "ops", "admin", "*"] and len(lines) == 3
    assert token not in out and token[13:] not in out

    code, out, _ = run(capsys, "keys", "revoke", info.id, "--store", store)
    assert code == 0 and f"key {info.id} (alice) revoked" in out
    assert keys.verify(token) is None
    code, out, _ = run(capsys, "keys", "list", "--store", store, "--json")
    listed = json.loads(out)
    assert [k["id"] for k in listed] == [info.id, admin_id] and listed[0]["revoked"] and not listed[1]["revoked"]
    actions = [(e.action, e.target) for e in keys.audit.entries()]
    assert actions == [("key.revoke", info.id), ("key.add", admin_id), ("key.add", info.id)]
    assert all(e.actor.startswith("cli:") for e in keys.audit.entries())


def test_cli_mistakes_are_one_error_line(tmp_path, capsys):
    store = str(tmp_path / "store")
    for argv, message in (
        (["keys", "add", "eve", "--scope", "write"], "error: unknown scope 'write'"),
        (["keys", "add", "eve"], "error: a key needs at least one scope"),
        (["keys", "add", "", "--scope", "read"], "error: the key's name is empty"),
        (["keys", "add", "eve", "--scope", "read", "-c", "../x"], "error: invalid collection name"),
        (["keys", "revoke", "rag_00000000"], "error: no key rag_00000000"),
        (["keys", "revoke", "eve"], "error: 'eve' is not a key id"),
    ):
        code, out, err = run(capsys, *argv, "--store", store)
        assert code == 1 and out == "" and err.startswith(message) and err.count("\n") == 1, (argv, err)
    code, out, _ = run(capsys, "keys", "list", "--store", store)
    assert code == 0 and out.startswith("no API keys") and KeyStore(store).audit.entries() == []
