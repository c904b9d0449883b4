"""Passages trimmed for the prompt: the sentences matching the question and the one holding the reader's span."""

from rag.answer.prompting import build_messages
from rag.answer.trimming import trim_passage, trimmed_sources
from rag.answer.types import ShortAnswer, Source
from retrievers.passages import Passage

TEXT = (
    "The Eiffel Tower is a lattice tower in Paris. It was named after Gustave Eiffel. "
    "Locals first criticised its design. It was completed in 1889 for the World's Fair. "
    "Today it is the most visited paid monument in the world."
)


def test_the_sentences_sharing_most_words_with_the_question_are_kept_in_order():
    trimmed = trim_passage(TEXT, "When was the Eiffel Tower completed?", keep=1)
    assert trimmed == "The Eiffel Tower is a lattice tower in Paris. …"  # two words against one
    two = trim_passage(TEXT, "When was the Eiffel Tower completed for the fair?", keep=2)
    assert two == "The Eiffel Tower is a lattice tower in Paris. … It was completed in 1889 for the World's Fair. …"


def test_words_of_the_title_count_only_when_the_question_has_no_others():
    question = "When was the Eiffel Tower completed?"
    trimmed = trim_passage(TEXT, question, keep=1, title="Eiffel Tower")
    assert trimmed == "… It was completed in 1889 for the World's Fair. …"
    assert (
        trim_passage(TEXT, "Eiffel Tower?", keep=1, title="Eiffel Tower")
        == "The Eiffel Tower is a lattice tower in Paris. …"
    )


def test_the_sentence_holding_the_readers_span_is_kept_too():
    trimmed = trim_passage(
        TEXT, "When was the Eiffel Tower completed?", keep=1, span="Gustave Eiffel", title="Eiffel Tower"
    )
    assert trimmed == "… It was named after Gustave Eiffel. … It was completed in 1889 for the World's Fair. …"


def test_short_passages_and_keep_zero_stay_whole():
    assert trim_passage(TEXT, "When?", keep=5) == TEXT
    assert trim_passage(TEXT, "When was it completed?", keep=0) == TEXT
    assert trim_passage("", "When?", keep=1) == ""


def sources() -> list[Source]:
    passages = [
        Passage(id="a", text=TEXT, title="Eiffel Tower", source="towers.md"),
        Passage(id="b", text="The Louvre is a museum. It is in Paris. It opened in 1793.", title="Louvre"),
    ]
    return [Source(n=i, passage=p, score=1.0) for i, p in enumerate(passages, start=1)]


def test_prompt_passages_are_trimmed_while_the_sources_stay_whole():
    whole = sources()
    short = ShortAnswer(text="1889", source=1, passage_id="a", start=0, end=4, context=TEXT, score=1.0)
    copies = trimmed_sources(whole, "When was the Eiffel Tower completed?", 1, short)
    assert [s.n for s in copies] == [1, 2] and copies[0].passage.text.startswith("… It was completed in 1889")
    assert whole[0].passage.text == TEXT  # what is shown and cited


class CountingLLM:
    context_window, max_tokens = 4096, 256

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_the_prompt_reads_fewer_tokens_and_names_the_whole_sources():
    from prompts import PromptSet

    prompts, llm, question = PromptSet.load(), CountingLLM(), "When was the Eiffel Tower completed?"
    full, used_full = build_messages(prompts, llm, question, sources())
    cut, used_cut = build_messages(prompts, llm, question, sources(), trim_sentences=1)
    assert llm.count_tokens(cut[1]["content"]) < llm.count_tokens(full[1]["content"])
    assert "Locals first criticised" in full[1]["content"] and "Locals first criticised" not in cut[1]["content"]
    assert (
        [s.passage.text for s in used_cut] == [s.passage.text for s in used_full] == [TEXT, sources()[1].passage.text]
    )


def test_a_context_too_small_for_whole_passages_gets_their_best_sentences_before_any_cut():
    from prompts import PromptSet

    class SmallLLM(CountingLLM):
        context_window = 256 + 64 + 150  # room for the instructions and about 40 words of passages

    prompts, question = PromptSet.load(), "When was the Eiffel Tower completed for the fair?"
    messages, used = build_messages(prompts, SmallLLM(), question, sources())
    assert [s.n for s in used] == [1, 2]  # both passages, trimmed, rather than the first alone
    assert (
        "It was completed in 1889" in messages[1]["content"] and "Locals first criticised" not in messages[1]["content"]
    )
    roomy, _ = build_messages(prompts, CountingLLM(), question, sources())
    assert "Locals first criticised" in roomy[1]["content"]  # whole passages where they fit
