"""Cloze questions for the reader's pretraining: answer candidates, the question, the examples' spans,
and a pass of span training on them."""

import random

import pytest

from retrievers.reader.cloze import answer_candidates, cloze_examples, cloze_question, sentences

PASSAGES = [
    "Eiffel Tower. The tower in Paris was designed by the engineer Gustave Eiffel and completed in 1889. "
    "It is 330 metres tall and was the tallest structure in the world until 1930.",
    "Apollo 11. The spaceflight landed the first humans on the Moon on 20 July 1969, with Neil Armstrong and "
    "Buzz Aldrin walking on its surface.",
    "Marie Curie. She was a Polish physicist and chemist who conducted pioneering research on radioactivity "
    "in Paris. She won the Nobel Prize twice.",
    "Cats. cats sleep a lot.",  # no sentence long enough and no candidate
]


def test_answer_candidates_are_dates_numbers_and_names_without_overlaps():
    sentence = "The spaceflight landed the first humans on the Moon on 20 July 1969, with Neil Armstrong aboard."
    found = {(wh, sentence[a:b]) for wh, a, b in answer_candidates(sentence)}
    assert ("when", "20 July 1969") in found and ("what", "the Moon") in found and ("what", "Neil Armstrong") in found
    assert not any(text in ("1969", "20") for _, text in found)  # inside the date, taken already
    assert ("how many", "330") in {
        (wh, s[a:b]) for s in ["It is 330 metres tall."] for wh, a, b in answer_candidates(s)
    }
    assert answer_candidates("the cat sat on the mat.") == []


def test_a_cloze_question_puts_the_wh_word_first_and_leaves_the_answer_out():
    sentence = "The tower was designed by the engineer Gustave Eiffel and completed in 1889."
    start = sentence.index("1889")
    question = cloze_question(
        sentence, start, start + 4, "when", random.Random(0), window=20, drop=0.0, shuffle_window=1
    )
    assert question == "When The tower was designed by the engineer Gustave Eiffel and completed in?"
    question = cloze_question(
        sentence, start, start + 4, "when", random.Random(0), window=3, drop=0.0, shuffle_window=1
    )
    assert question == "When and completed in?"  # only the words near the blank
    noisy = cloze_question(sentence, start, start + 4, "when", random.Random(1), drop=0.3, shuffle_window=3)
    assert noisy.startswith("When ") and noisy.endswith("?") and "1889" not in noisy


def test_sentences_split_after_the_stop_before_a_capital_or_digit():
    assert sentences("Eiffel Tower. It was built in 1889. 330 metres tall! e.g. this.") == [
        "Eiffel Tower.",
        "It was built in 1889.",
        "330 metres tall! e.g. this.",
    ]


def test_cloze_examples_point_at_every_occurrence_of_their_answer():
    examples = cloze_examples(PASSAGES, 100, seed=3, per_passage=2)
    assert examples and len(examples) <= 6  # at most two from each of the three usable passages
    for example in examples:
        ((context, spans),) = example.positives
        assert context in PASSAGES and spans
        assert all(context[a:b].lower() == example.answers[0].lower() for a, b in spans)
        assert example.question.split()[0] in ("What", "When", "How") and example.question.endswith("?")
        assert example.negatives == []
    assert "Polish" not in {e.answers[0] for e in examples}  # a nationality used as an adjective
    assert cloze_examples(PASSAGES, 2, seed=3) == cloze_examples(PASSAGES, 2, seed=3)
    assert len(cloze_examples(PASSAGES, 2, seed=3)) == 2
    assert cloze_examples(PASSAGES[3:], 10) == []


@pytest.mark.slow
def test_a_pass_of_cloze_training_lowers_the_span_loss(encoder):
    from retrievers.reader import Reader
    from retrievers.reader.losses import span_loss_batch
    from retrievers.reader.training import ReaderTrainConfig, pretrain_spans

    examples = cloze_examples(PASSAGES[:3], 6, seed=3, per_passage=2) * 16
    reader = Reader(max_length=64)
    before = float(span_loss_batch(reader, examples[:6]).detach())
    record = pretrain_spans(
        reader,
        examples,
        ReaderTrainConfig(cloze_batch=6, learning_rate=3e-4, head_learning_rate=3e-3, warmup_ratio=0.0),
        progress=False,
    )
    after = float(span_loss_batch(reader, examples[:6]).detach())
    assert record["examples"] == len(examples) and record["steps"] == 16
    assert after < 0.5 * before, (before, after)
