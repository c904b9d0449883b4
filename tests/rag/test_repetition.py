"""The repetition guard on crafted text, and the embedded model's loops and answer cap with the real model."""

import random
import re
import threading

import pytest

from prompts import PromptSet
from rag.llm import LLM, LOCAL_MAX_TOKENS, LOCAL_MODELS, Generation, RepetitionGuard
from rag.llm.chat_template import chat_tokens
from rag.llm.local import _local_generate

LOOP = (
    "Your documents are about rivers. The passages are citations from Wikipedia about the Nile. "
    + "The passages are citations from Wikipedia about the Nile. " * 6
)
CLEAN = "Your documents are about rivers. The passages are citations from Wikipedia about the Nile."
NORMAL = (
    "Marie Curie was born in Warsaw. Marie Curie won the Nobel Prize in Physics in 1903 [1], "
    "and Marie Curie won the Nobel Prize in Chemistry in 1911 [2]. The prize was the first of "
    "the two, and the second made her the first person to win it twice. The the the.\n"
    "Physics: Marie Curie.\nChemistry: Marie Curie.\nPhysics: Marie Curie."
)


def guarded(pieces):
    """Feed pieces until the guard stops; return the guard, the text it handed out, and the pieces it read."""
    guard, out, read = RepetitionGuard(), [], 0
    for piece in pieces:
        read += 1
        out.append(guard.feed(piece))
        if guard.stopped:
            break
    out.append(guard.finish())
    return guard, "".join(out), read


def split(text, seed):
    """The text in pieces of 1 to 6 characters, cut anywhere (mid-word too), as tokens arrive."""
    rng, pieces, i = random.Random(seed), [], 0
    while i < len(text):
        n = rng.randint(1, 6)
        pieces.append(text[i : i + n])
        i += n
    return pieces


def sentences(text):
    return [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+|\n", text) if s.strip()]


def test_a_looping_text_stops_early_and_keeps_the_text_before_the_loop():
    words = LOOP.split(" ")
    guard, out, read = guarded(w + " " for w in words)
    assert guard.stopped and out == guard.text == CLEAN
    assert read < len(CLEAN.split()) + 10  # stopped a few words into the first repeat, not at the end


@pytest.mark.parametrize("seed", range(5))
def test_pieces_split_mid_word_stop_the_same_and_never_show_text_that_is_cut(seed):
    guard, out, _ = guarded(split(LOOP, seed))
    assert guard.stopped and out == CLEAN


def test_a_loop_that_starts_mid_sentence_is_cut_back_to_the_last_whole_sentence():
    text = "The Nile is long. It flows through Egypt and Sudan" + " and Egypt and Sudan" * 6 + "."
    guard, out, _ = guarded(split(text, 0))
    assert guard.stopped and out == "The Nile is long."


def test_a_short_sentence_or_line_said_twice_stops_it():
    guard, out, _ = guarded(
        split("Sources: the two passages.\nI do not know the answer.\nI do not know the answer.\nI do not", 1)
    )
    assert guard.stopped and out == "Sources: the two passages.\nI do not know the answer."


def test_a_numbered_list_that_loops_is_stopped_despite_the_numbers():
    text = "".join(f"{i}. See the citations from Wikipedia [{i}].\n" for i in range(1, 9))
    guard, out, _ = guarded(split(text, 2))
    assert guard.stopped and out == "1. See the citations from Wikipedia [1]."


@pytest.mark.parametrize("seed", range(3))
def test_normal_text_with_repeated_names_and_short_words_is_left_alone(seed):
    guard, out, _ = guarded(split(NORMAL, seed))
    assert not guard.stopped and out == guard.text == NORMAL
    table = "| year | prize |\n| 1903 | physics |\n| 1911 | chemistry |\n| 1 | 2 |\n| 3 | 4 |\n"
    guard, out, _ = guarded(split(table, seed))
    assert not guard.stopped and out == table


class LoopingLlama:
    """Stands in for llama.cpp: streams a loop one word a token, noting what it was asked and read."""

    metadata: dict = {}  # no chat template: the plain layout

    def __init__(self):
        self.params, self.read, self.closed = None, 0, False
        self.input_ids, self.n_tokens = [], 0

    def tokenize(self, data, add_bos=False, special=False):
        return data.split()

    def create_completion(self, prompt, stream=False, **params):
        assert stream and prompt
        self.params, self.read, self.closed = params, 0, False

        def chunks():
            try:
                for word in LOOP.split(" "):
                    self.read += 1
                    yield {"choices": [{"text": word + " ", "finish_reason": None}]}
                yield {"choices": [{"text": "", "finish_reason": "length"}]}
            finally:
                self.closed = True

        return chunks()


def test_the_local_handler_stops_reading_the_model_at_a_loop_and_caps_its_answer(monkeypatch):
    llama = LoopingLlama()
    monkeypatch.setattr(LOCAL_MODELS, "get", lambda name: (llama, threading.Lock()))
    messages = [{"role": "user", "content": "What are my documents?"}]
    generation = Generation()
    assert "".join(LLM(max_tokens=1000).stream(messages, generation)) == CLEAN
    assert llama.closed and llama.read < len(CLEAN.split()) + 10  # read a few words into the loop, then closed
    assert llama.params["max_tokens"] == LOCAL_MAX_TOKENS and llama.params["repeat_penalty"] > 1
    response = LLM().complete(messages)
    assert response.text == CLEAN and response.usage.completion_tokens == llama.read

    counts: dict = {}
    assert "".join(_local_generate("smollm2", messages, {"max_tokens": 1000}, counts)) == CLEAN
    assert llama.params["max_tokens"] == LOCAL_MAX_TOKENS and counts["finish_reason"] == "stop"
    "".join(_local_generate("smollm2", messages, {"max_tokens": 40}, counts))
    assert llama.params["max_tokens"] == 40


def test_the_answer_cap_applies_to_the_embedded_model_only(fake_provider):
    assert LLM(max_tokens=1000).max_tokens == LOCAL_MAX_TOKENS
    assert LLM(max_tokens=40).max_tokens == 40
    assert LLM(fake_provider, max_tokens=1000).max_tokens == 1000


PASSAGES = "\n".join(
    [
        '<passage n="1" title="Nile" source="nile.txt">\n'
        "The Nile is a major north-flowing river in northeastern Africa. "
        "It is the longest river in Africa and has historically been considered the longest river in the world.\n"
        "</passage>",
        '<passage n="2" title="Amazon" source="amazon.txt">\nThe Amazon River in South America is the largest river by '
        "discharge volume of water in the world.\n</passage>",
        '<passage n="3" title="Wikipedia" source="wiki.txt">\nWikipedia is a free online encyclopedia written and '
        "maintained by a community of volunteers. Articles cite sources.\n</passage>",
    ]
)


def words(text):
    return re.findall(r"\w+", text.lower())


def repeats(text, n=8):
    """Whether some run of n words occurs twice."""
    w = words(text)
    grams = [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]
    return len(grams) > len(set(grams))


@pytest.mark.slow
def test_the_real_model_stops_a_loop_early_within_the_cap():
    prompts = PromptSet.load()  # the shipped answer prompt, asked for everything the documents say: SmolLM2 goes round
    messages = [
        {"role": "system", "content": prompts.system.format(refusal=prompts.refusal.text)},
        {"role": "user", "content": prompts.qa.format(context=PASSAGES, question="List everything the documents say.")},
    ]
    llm = LLM(max_tokens=1000)
    llama, _ = LOCAL_MODELS.get("smollm2")
    generation = Generation()
    streamed = "".join(llm.stream(messages, generation))
    tokens = generation.usage.completion_tokens
    assert streamed and not repeats(streamed) and len(sentences(streamed)) == len(set(sentences(streamed)))
    assert tokens < LOCAL_MAX_TOKENS * 3 // 4 and streamed.rstrip().endswith((".", "]"))

    # unguarded, the same greedy decoding (the same prompt tokens, from the kept prefix) repeats itself right after
    prompt, stop = chat_tokens(llama, LOCAL_MODELS.formatter(llama), messages)
    LOCAL_MODELS.prefixes(llama).prepare(llama, prompt)
    raw = llama.create_completion(prompt=prompt, max_tokens=tokens + 24, temperature=0.0, repeat_penalty=1.2, stop=stop)
    raw_text = raw["choices"][0]["text"]
    assert raw_text.startswith(streamed.strip()) and repeats(raw_text)
    assert llm.complete(messages).text == streamed.strip()
