"""The reader: span choice from logits, the distant-supervision labeller, a few training steps, save/load."""

import numpy as np
import pytest

from retrievers.reader import (
    AnswerSpan,
    Reader,
    ReaderTrainConfig,
    answer_spans,
    choose_passage_rule,
    evaluate_reader,
    gold_span_example,
    label,
    label_all,
    read_reader_record,
    rerank,
    train_reader,
)
from retrievers.reader.evaluation import rule_outcomes
from retrievers.reader.losses import token_spans
from retrievers.reader.model import best_spans, passage_token_mask
from retrievers.reader.training import average_states


def test_best_span_is_the_highest_start_plus_end_within_the_passage_and_length():
    start = np.array([9.0, 0.0, 5.0, 1.0, 0.0, 0.0])
    end = np.array([9.0, 0.0, 0.0, 1.0, 4.0, 8.0])
    mask = np.array([False, True, True, True, True, True])  # token 0 is the question: never an answer
    assert best_spans(start, end, mask, max_tokens=10) == [(2, 5, 13.0)]
    assert best_spans(start, end, mask, max_tokens=3)[0][:2] == (2, 4)  # 2..5 is four tokens: too long
    spans = best_spans(start, end, mask, max_tokens=10, k=3)
    assert spans[0][:2] == (2, 5) and all(not (s <= 5 and e >= 2) for s, e, _ in spans[1:])  # none overlaps
    assert best_spans(start, end, np.zeros(6, dtype=bool), 10) == []


def test_rerank_adds_the_checks_to_the_readers_log_softmax():
    spans = [AnswerSpan("Gustave Eiffel", 0, 0, 14, 2.0, 0.0), AnswerSpan("1889", 0, 20, 24, 1.0, 0.0)]
    # reader log-softmax: -0.313, -1.313
    assert [s.text for s in rerank(spans, [-3.0, -1.0])] == ["1889", "Gustave Eiffel"]  # -3.31 < -2.31
    kept = rerank(spans, [-1.5, -1.0])  # -1.81 > -2.31
    assert [s.text for s in kept] == ["Gustave Eiffel", "1889"] and [s.check for s in kept] == [-1.5, -1.0]
    assert [s.text for s in rerank(spans, [-3.0, -1.0], weight=0.4)] == ["Gustave Eiffel", "1889"]  # -1.51 > -1.71
    assert spans[0].check is None  # the inputs are not changed
    assert rerank([], []) == []
    with pytest.raises(ValueError, match="2 spans but 1 checks"):
        rerank(spans, [-1.0])


def test_answer_spans_match_normalised_words_only_at_word_boundaries():
    text = "In 1972 the treaty was signed; 19721 is a number. 1972 again, and Zürich."
    assert answer_spans(text, ["1972"]) == [(3, 7), (50, 54)]
    assert [text[a:b] for a, b in answer_spans(text, ["ZÜRICH"])] == ["Zürich"]
    assert [text[a:b] for a, b in answer_spans(text, ["the Treaty"])] == ["the treaty"]
    assert answer_spans(text, ["1973", "", "  "]) == []


def test_distant_supervision_labels_positives_with_every_span_and_keeps_the_best_negatives():
    contexts = ["Paris is in France.", "Lyon is a city.", "The capital is Paris; Paris is large.", "Nice.", "Rome."]
    example = label("capital of France?", ["Paris"], contexts, max_positives=2, max_negatives=2)
    assert [c for c, _ in example.positives] == [contexts[0], contexts[2]]
    assert example.positives[1][1] == [(15, 20), (22, 27)]
    assert example.negatives == ["Lyon is a city.", "Nice."]  # the first two, in retrieval order
    examples, report = label_all([("q1", ["Paris"], contexts), ("q2", ["Berlin"], contexts)])
    assert len(examples) == 1 and report.questions == 2 and report.with_positive == 1 and report.spans == 3


def test_gold_spans_from_squad_offsets_or_by_string_when_the_offset_is_off():
    context = "The Nile flows north into the Mediterranean."
    assert gold_span_example("q", context, [("Nile", 4)]).positives == [(context, [(4, 8)])]
    assert gold_span_example("q", context, [("Nile", 0)]).positives == [(context, [(4, 8)])]
    assert gold_span_example("q", context, [("Amazon", 3)]) is None


EXAMPLES = [
    (
        "Who designed the Eiffel Tower?",
        ["Gustave Eiffel"],
        [
            "The Eiffel Tower in Paris was designed by the engineer Gustave Eiffel and completed in 1889.",
            "The Nile flows north through eleven countries.",
            "Cats are small carnivorous mammals.",
        ],
    ),
    (
        "Which river flows through eleven countries?",
        ["the Nile"],
        [
            "The Nile flows north through eleven countries into the Mediterranean Sea.",
            "The Amazon carries more water than any other river.",
            "Mars is the fourth planet.",
        ],
    ),
    (
        "What is the fourth planet from the Sun?",
        ["Mars"],
        [
            "Mars is the fourth planet from the Sun, called the Red Planet.",
            "The Moon orbits the Earth.",
            "The Eiffel Tower is in Paris.",
        ],
    ),
    (
        "What do domestic cats catch?",
        ["mice"],
        [
            "The domestic cat is often kept as a house pet for catching mice.",
            "Mars is red.",
            "The Amazon is in South America.",
        ],
    ),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    examples, _ = label_all(EXAMPLES)
    out = tmp_path_factory.mktemp("reader")
    config = ReaderTrainConfig(
        epochs=12, passages=3, questions_per_step=2, learning_rate=1e-4, head_learning_rate=3e-3, warmup_ratio=0.0
    )
    result = train_reader(examples, out, config, validation=EXAMPLES, progress=False)
    return result, out


def test_token_spans_follow_the_characters_and_drop_what_truncation_cut(encoder):
    reader = Reader(max_length=24)
    context = "Alpha beta gamma. " * 10 + "Gustave Eiffel."
    batch = reader.tokenize("who?", [context])
    assert token_spans(batch, 0, [(0, 5)]) != []
    assert token_spans(batch, 0, [(len(context) - 15, len(context) - 1)]) == []  # cut off at 24 tokens


def test_in_the_retrievers_order_only_the_passages_needed_are_read_with_the_same_spans(encoder, monkeypatch):
    reader = Reader(max_length=48)
    reader.passage_choice = "retriever"
    contexts = ["Gustave Eiffel designed the tower in Paris.", "The Nile flows north.", "Mars is red."]
    whole = reader.score("who designed it?", contexts).best("retriever", 3)  # every passage read in one batch
    read = []
    score = reader.score
    monkeypatch.setattr(reader, "score", lambda q, cs: read.extend(cs) or score(q, cs))
    spans = reader.read("who designed it?", contexts, top_spans=3)
    assert read == contexts[:1]  # the first passage holds three spans: nothing else is read
    assert [(s.text, s.passage) for s in spans] == [(s.text, s.passage) for s in whole]
    read.clear()
    spans = reader.read("who designed it?", ["Mars", "The Nile flows north."], top_spans=2)
    assert read == ["Mars", "The Nile flows north."]  # a one-word passage has one span: the next is read too
    assert [(s.text, s.passage) for s in spans][0] == ("Mars", 0) and spans[1].passage == 1


def test_the_answers_passage_follows_the_selection_head_or_the_retrievers_order(encoder, tmp_path, monkeypatch):
    import torch

    reader = Reader(max_length=32)
    contexts = ["Alpha beta gamma.", "Delta epsilon zeta."]

    def forward(batch):  # every passage's best span is its first word; the selection head prefers passage 1
        mask = passage_token_mask(batch)
        start, end = torch.full(mask.shape, -1e4), torch.full(mask.shape, -1e4)
        for row in range(mask.shape[0]):
            first = int(mask[row].nonzero()[0])
            start[row, first] = end[row, first] = 5.0
        return start, end, torch.tensor([0.0, 3.0])

    monkeypatch.setattr(reader, "forward", forward)
    assert reader.passage_choice == "selection"
    assert [(s.text, s.passage) for s in reader.read("which?", contexts)] == [("Delta", 1)]
    reader.passage_choice = "retriever"
    assert [(s.text, s.passage) for s in reader.read("which?", contexts)] == [("Alpha", 0)]
    alpha, delta = ("which?", ["alpha"], contexts), ("which?", ["delta"], contexts)  # right by one rule each
    choice = choose_passage_rule(reader, [alpha])
    assert choice["chosen"] == "retriever" and choice["retriever"]["em"] == 100.0 and choice["selection"]["em"] == 0.0
    choice = choose_passage_rule(reader, [delta] * 10)  # 10 wins, no loss: more than chance
    assert choice["chosen"] == "selection" and reader.passage_choice == "selection"
    assert (choice["selection_wins"], choice["selection_losses"]) == (10, 0)
    assert evaluate_reader(reader, [delta] * 10) == choice["selection"]
    for held_out in ([delta] * 3, [delta] * 10 + [alpha] * 4):  # 3 - 0 <= 2 sqrt(3); 6 <= 2 sqrt(14)
        assert choose_passage_rule(reader, held_out)["chosen"] == "retriever"  # not clearly better: the retriever's
    reader.passage_choice = "retriever"
    reader.save(tmp_path / "r")
    assert read_reader_record(tmp_path / "r")["passage_choice"] == "retriever"
    assert Reader(tmp_path / "r").passage_choice == "retriever"


@pytest.mark.slow
def test_a_few_training_steps_lower_the_loss_and_the_reader_finds_the_answers(trained):
    result, _ = trained
    first = np.mean([loss for _, loss in result.losses[:2]])
    last = np.mean([loss for _, loss in result.losses[-2:]])
    assert last < 0.5 * first, (first, last)
    before, best = result.validation[0], result.validation[result.best_epoch]
    assert best["em"] > before["em"] and best["em"] >= 75.0


@pytest.mark.slow
def test_a_saved_reader_loads_with_its_heads_and_reads_the_same(trained):
    result, out = trained
    record = read_reader_record(out)
    assert record["format"] == "rag-reader" and record["training"]["best_epoch"] == result.best_epoch
    choice = record["training"]["passage_choice"]
    assert choice["selection"] == result.validation[result.best_epoch]
    assert record["passage_choice"] == choice["chosen"] in ("selection", "retriever")
    again = Reader(out)
    assert again.trained and again.passage_choice == choice["chosen"]
    question, answers, contexts = EXAMPLES[0]
    span = again.read(question, contexts)[0]
    assert span.passage == 0 and span.text == contexts[0][span.start : span.end]
    assert evaluate_reader(again, EXAMPLES) == choice[choice["chosen"]]
    assert Reader().trained is False and read_reader_record(out.parent) is None


def test_averaged_weights_are_the_element_wise_mean_and_integer_buffers_come_from_the_first():
    import torch

    a = {"encoder": {"w": torch.tensor([1.0, 2.0]), "ids": torch.tensor([0, 1])}, "span": {}, "select": {}}
    b = {"encoder": {"w": torch.tensor([3.0, 6.0]), "ids": torch.tensor([5, 5])}, "span": {}, "select": {}}
    mean = average_states([a, b])
    assert mean["encoder"]["w"].tolist() == [2.0, 4.0] and mean["encoder"]["ids"].tolist() == [0, 1]
    assert a["encoder"]["w"].tolist() == [1.0, 2.0]  # the inputs are left alone


@pytest.mark.slow
def test_several_seeds_train_from_one_start_and_save_their_averaged_weights(encoder, tmp_path):
    import torch

    examples, _ = label_all(EXAMPLES)
    config = ReaderTrainConfig(epochs=2, passages=2, questions_per_step=2, head_learning_rate=3e-3, seeds=2)
    members = []

    def keep(i, reader):
        members.append({k: v.detach().clone() for k, v in reader.span_head.state_dict().items()})

    result = train_reader(examples, tmp_path / "r", config, validation=EXAMPLES, progress=False, on_member=keep)
    assert len(members) == 2 and not members[0]["weight"].equal(members[1]["weight"])  # different data orders
    assert [m["seed"] for m in result.members] == [42, 43] and result.soup["questions"] == len(EXAMPLES)
    assert result.losses[-1][0] == 2 * 2 * 2  # steps counted across both readers
    saved = Reader(tmp_path / "r")
    expected = (members[0]["weight"] + members[1]["weight"]) / 2
    assert torch.allclose(saved.span_head.weight.detach(), expected, atol=1e-6)
    record = read_reader_record(tmp_path / "r")["training"]
    assert record["config"]["seeds"] == 2 and len(record["members"]) == 2 and record["averaged"] == result.soup


@pytest.mark.slow
def test_lora_members_average_their_deltas_exactly_and_the_delta_rebuilds_the_saved_reader(encoder, tmp_path):
    import torch

    from retrievers.encoders.lora import ADAPTER_FILE, load_delta, merge_lora

    examples, _ = label_all(EXAMPLES)
    config = ReaderTrainConfig(
        epochs=2, passages=2, questions_per_step=2, learning_rate=1e-3, head_learning_rate=3e-3, seeds=2, lora_rank=4
    )
    result = train_reader(examples, tmp_path / "r", config, validation=EXAMPLES, progress=False)
    assert result.soup["questions"] == len(EXAMPLES)
    assert (tmp_path / "r" / ADAPTER_FILE).stat().st_size < 1_000_000
    state, spec = load_delta(tmp_path / "r")
    assert spec.rank == 8 and spec.scale == config.lora().scale  # two rank-4 members side by side
    saved = Reader(tmp_path / "r")
    rebuilt = Reader()
    merge_lora(rebuilt.encoder, state, spec)
    rebuilt.span_head.load_state_dict(saved.span_head.state_dict())
    rebuilt.select_head.load_state_dict(saved.select_head.state_dict())
    question, _, passages = EXAMPLES[0]
    a, b = saved.score(question, passages), rebuilt.score(question, passages)
    assert np.allclose(a.start, b.start, atol=1e-4) and np.allclose(a.end, b.end, atol=1e-4)
    base = Reader()
    key = "encoder.layer.0.attention.self.query.weight"
    assert not torch.allclose(base.encoder.state_dict()[key], saved.encoder.state_dict()[key])


class _FixedReading:
    def __init__(self, text: str) -> None:
        self.text = text

    def best(self, rule: str, k: int = 1) -> list[AnswerSpan]:
        return [AnswerSpan(self.text, 0, 0, len(self.text), 1.0, 1.0)]


class _FixedReader:
    """Answers every question with one text, so only the scoring of that text is under test."""

    def __init__(self, text: str) -> None:
        self.text = text

    def eval(self) -> None:
        pass

    def score(self, question, contexts):
        return _FixedReading(self.text)


@pytest.mark.parametrize(
    "predicted, gold, em",
    [
        ("Beatles", "the Beatles", 1.0),
        ("the Beatles!", "Beatles", 1.0),
        ("Paris", "Paris, France", 0.0),
        ("1972", "1972.", 1.0),
    ],
)
def test_reader_training_scores_answers_as_rag_eval_answers_does(predicted, gold, em):
    """One answer normalisation: the EM and F1 that pick the reader's best epoch are SQuAD's, as reported."""
    from eval.metrics import exact_match, token_f1

    outcome = rule_outcomes(
        _FixedReader(predicted), [("q?", [gold], ["The Beatles played in Paris, France in 1972."])], ["selection"]
    )["selection"][0]
    assert outcome.em == exact_match(predicted, [gold]) == em  # "the Beatles" is "Beatles" in both
    assert outcome.f1 == pytest.approx(token_f1(predicted, [gold]))


def test_concurrent_readings_run_one_at_a_time_and_read_as_alone(monkeypatch):
    """One forward pass already takes every core: concurrent ones would only multiply the activations held."""
    import threading
    import time

    reader = Reader(max_length=32)
    alone = reader.score("Where is the Nile?", ["The Nile is in Africa."])
    forward, inside, most = reader.forward, [0], [0]

    def counted(batch):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        try:
            return forward(batch)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(reader, "forward", counted)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(reader.score("Where is the Nile?", ["The Nile is in Africa."])))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1 and len(results) == 4
    assert all(np.allclose(r.start, alone.start) for r in results)
