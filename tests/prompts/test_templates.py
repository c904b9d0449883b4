import pytest

from prompts import ANSWER_PROMPTS, PROMPT_NAMES, PromptSet, load_prompt
from prompts.templates import PromptError


def test_shipped_prompts_load_with_their_versions():
    prompts = PromptSet.load()
    newer = {"hint": "v2", "check": "v2", "judge": "v2", "questions": "v2"}  # v2: document text as <passage> blocks
    assert prompts.versions() == {name: newer.get(name, "v1") for name in ANSWER_PROMPTS}
    assert all(load_prompt(name).version == newer.get(name, "v1") for name in PROMPT_NAMES)
    assert "untrusted" in prompts.system.text and "{refusal}" in prompts.system.text
    assert "Question: Zq" in prompts.qa.format(context="C", question="Zq")
    assert prompts.qa.as_llama_index().format(context="C", question="Q") == prompts.qa.format(context="C", question="Q")
    assert '"Paris" in passage [2]' in load_prompt("hint", version=1).format(answer="Paris", source=2)
    hinted = prompts.hint.format(answer="<passage>\nParis\n</passage>", source=2)
    assert "from passage [2]" in hinted and hinted.endswith("\n<passage>\nParis\n</passage>")


def test_a_user_directory_overrides_by_name_and_versions_can_be_pinned(tmp_path):
    (tmp_path / "refusal.txt").write_text("Not in the documents.")
    (tmp_path / "qa.v7.txt").write_text("{context}\nQ: {question}\nA:")
    prompts = PromptSet.load(tmp_path)
    assert prompts.refusal.text == "Not in the documents." and prompts.refusal.version == "user"
    assert prompts.qa.version == "v7" and prompts.system.version == "v1"
    assert load_prompt("qa", version=1, directory=tmp_path).version == "v1"  # pinned: the shipped v1


def test_bad_templates_name_the_file(tmp_path):
    (tmp_path / "qa.txt").write_text("{context} only")
    with pytest.raises(PromptError, match=r"qa.txt: the qa prompt takes \{context\}, \{question\}"):
        load_prompt("qa", directory=tmp_path)
    (tmp_path / "hint.txt").write_text("The answer may be {answer}.")
    with pytest.raises(PromptError, match=r"hint.txt: the hint prompt takes \{answer\}, \{source\}"):
        load_prompt("hint", directory=tmp_path)
    (tmp_path / "condense.txt").write_text("{history} {question")
    with pytest.raises(PromptError, match="condense.txt: bad template"):
        load_prompt("condense", directory=tmp_path)
    with pytest.raises(PromptError, match="unknown prompt"):
        load_prompt("nope")
    with pytest.raises(PromptError, match="version 9"):
        load_prompt("qa", version=9)
