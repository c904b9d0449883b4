import pytest

from rag.config import Settings
from retrievers import RagError


def test_priority_is_flag_then_env_then_config_file_then_default(tmp_path, monkeypatch):
    config = tmp_path / "rag.toml"
    config.write_text('model = "ollama/llama3.1"\ncontext_k = 4\nfusion = "linear"\n')
    monkeypatch.setenv("RAG_CONFIG", str(config))
    assert Settings().model == "ollama/llama3.1" and Settings().context_k == 4
    monkeypatch.setenv("RAG_MODEL", "openai/gpt-4o-mini")
    assert Settings().model == "openai/gpt-4o-mini" and Settings().fusion == "linear"
    assert Settings(model="anthropic/claude").model == "anthropic/claude"


def test_a_config_file_in_the_working_directory_is_not_read(tmp_path, monkeypatch):
    """A planted ./rag.toml must not redirect the server (api_base, chroma_url, langfuse_host)."""
    monkeypatch.delenv("RAG_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rag.toml").write_text('top_k = 7\napi_base = "http://evil.example"\n')
    settings = Settings()
    assert settings.top_k == 20 and settings.api_base is None


def test_the_user_config_file_is_read_and_named_in_the_log(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("RAG_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".config" / "rag").mkdir(parents=True)
    config = tmp_path / ".config" / "rag" / "config.toml"
    config.write_text("top_k = 7\n")
    with caplog.at_level("INFO", logger="rag.config"):
        assert Settings().top_k == 7
    assert str(config) in caplog.text


def test_langfuse_keys_come_from_their_usual_variables(monkeypatch):
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-1")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-1")
    settings = Settings()
    assert settings.langfuse_public_key == "pk-1" and "sk-1" not in repr(settings)


def test_a_missing_named_config_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(RagError, match="not a file"):
        Settings()


def test_a_broken_config_file_is_one_line_from_the_cli(tmp_path, monkeypatch, capsys):
    from rag.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text("model = [unclosed\n")
    monkeypatch.setenv("RAG_CONFIG", str(bad))
    assert main(["collections", "--store", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("error: the config file")


def test_the_reader_hint_flag_reaches_the_settings_and_needs_a_reader(tmp_path, monkeypatch, capsys):
    from rag.cli import build_parser, main, settings_from

    monkeypatch.delenv("RAG_READER_HINT", raising=False)
    args = build_parser().parse_args(["ask", "who?", "--reader", "dir", "--reader-hint"])
    assert settings_from(args).reader_hint is True and settings_from(args).reader == "dir"
    assert settings_from(build_parser().parse_args(["ask", "who?"])).hints() is False  # the embedded model: a lead
    assert settings_from(build_parser().parse_args(["ask", "who?", "--no-lead", "--reader", "d"])).hints() is True
    code = main(["ask", "who?", "--reader-hint", "--no-reader", "--store", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "--reader-hint" in err and "needs a reader" in err and "Traceback" not in err
