from retrievers.environment import SWITCHES, quiet_offline


def test_quiet_offline_sets_every_switch_but_keeps_what_the_user_set(monkeypatch):
    for name in SWITCHES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a user who wants the hub
    quiet_offline()
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert all(os.environ[name] == value for name, value in SWITCHES.items() if name != "HF_HUB_OFFLINE")


def test_loading_code_changes_the_environment_only_through_quiet_offline():
    """One place: no library module sets these switches itself."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(p.relative_to(root))
        for package in ("rag", "retrievers", "eval", "ui", "prompts")
        for p in (root / package).rglob("*.py")
        if p.name != "environment.py"
        and any(f'setdefault("{name}"' in p.read_text(encoding="utf-8") for name in SWITCHES)
    ]
    assert offenders == []
