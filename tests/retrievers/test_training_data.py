import json

import pytest

from retrievers import Collection, RagError, SourceUpdate, make_passages
from retrievers.answer_text import normalize, read_qa
from retrievers.training import (
    build_examples,
    detect_training_format,
    mine_examples,
    read_pairs,
    split_validation,
    validation_set,
)

# BM25 ranks the "decoy" passages above the answer-bearing ones for the questions below.
TEXTS = {
    "tower-decoy": "The tower in Paris is a famous tower; the tower was built as a tower for a fair.",
    "tower-answer": "Gustave Eiffel's company designed and built the tower.",
    "river-decoy": "Which river is longest? The longest river question is debated: river length is hard to measure.",
    "river-answer": "The Nile is often called the longest river in the world.",
    "river-answer-2": "Measured another way, the longest river is the Amazon.",
    "cats": "The domestic cat is a small carnivorous mammal.",
}


@pytest.fixture
def coll(tmp_path, encoder):
    coll = Collection("mine", tmp_path, create=True)
    coll.update(
        [SourceUpdate(name, "s", make_passages(name, [("", text, {})], 100)) for name, text in TEXTS.items()], encoder
    )
    yield coll
    coll.close()


def write_jsonl(path, records):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def text_of(coll, name):
    return next(p.indexed_text for p in coll.passages() if p.source == name)


def test_positive_is_the_best_bm25_passage_with_the_answer_and_negatives_the_best_without(coll):
    qa = read_qa(
        write_jsonl(
            coll.dir / "qa.jsonl",
            [
                {"question": "who built the tower in paris", "answer": ["Gustave Eiffel"]},
                {"question": "which river is the longest river", "answer": ["Nile", "Amazon"]},
                {"question": "what is the capital of peru", "answer": ["Lima"]},
            ],
        )
    )
    bm25 = coll.bm25()
    examples, unmatched = mine_examples(qa.questions, coll, hard_negatives=2)
    assert [q.question for q in unmatched] == ["what is the capital of peru"]
    tower, river = examples
    assert tower.positive == text_of(coll, "tower-answer")
    assert bm25.search(tower.question, 1)[0][0] == next(p.id for p in coll.passages() if p.source == "tower-decoy")
    assert tower.negatives[0] == text_of(coll, "tower-decoy")  # the top BM25 passage, which lacks the answer
    # Only the decoy matches a query word besides the positive: a random passage without the answer makes up two.
    assert len(tower.negatives) == 2 and tower.random_negatives == 1 and tower.positive not in tower.negatives
    assert not any("eiffel" in normalize(n) for n in tower.negatives)
    # Two passages hold an answer: the higher-ranked one is the positive, neither is a negative.
    ranked = [pid for pid, _ in bm25.search(river.question, 10)]
    by_id = {p.id: p.indexed_text for p in coll.passages()}
    with_answer = [pid for pid in ranked if any(a in normalize(by_id[pid]) for a in river.answers)]
    assert river.positive == by_id[with_answer[0]]
    assert not set(river.negatives) & {text_of(coll, "river-answer"), text_of(coll, "river-answer-2")}
    assert river.negatives[0] == text_of(coll, "river-decoy")


def test_dense_negatives_are_added_without_repeats(coll):
    qa = read_qa(write_jsonl(coll.dir / "qa.jsonl", [{"question": "who built the tower", "answer": ["Eiffel"]}]))
    (example,), _ = mine_examples(qa.questions, coll, hard_negatives=1, dense_negatives=2)
    assert len(example.negatives) == 3 == len(set(example.negatives))
    assert all("eiffel" not in normalize(n) for n in example.negatives)


def test_dense_positives_cover_questions_bm25_finds_no_answer_for(coll):
    # No word of the question is in the cat passage, so BM25's top passage lacks the answer; the encoder's holds it.
    record = {"question": "which feline pet do people keep", "answer": ["cat"]}
    qa = read_qa(write_jsonl(coll.dir / "qa.jsonl", [record]))
    assert mine_examples(qa.questions, coll, depth=1, hard_negatives=1)[0] == []
    (example,), unmatched = mine_examples(qa.questions, coll, depth=1, hard_negatives=1, dense_positives=True)
    assert unmatched == [] and example.positive == text_of(coll, "cats")
    assert len(example.negatives) == 1 and "cat" not in normalize(example.negatives[0])


def test_bad_records_are_counted_not_fatal(coll):
    path = write_jsonl(
        coll.dir / "qa.jsonl",
        [
            {"question": "who built the tower", "answer": ["Gustave Eiffel"]},
            "{not json",
            {"question": "no answer field"},
            {"question": "empty answers", "answer": ["", "  "]},
            {"question": "Who built the tower?", "answer": ["Eiffel"]},  # the same question again
            {"question": "what is the capital of peru", "answer": ["Lima"]},
            {"question": 7, "answer": ["x"]},
        ],
    )
    examples, report = build_examples(path, coll)
    assert len(examples) == 1
    assert (report.lines_read, report.malformed, report.no_answer, report.duplicates, report.no_positive) == (
        7,
        3,
        1,
        1,
        1,
    )
    assert "1 with no passage containing an answer dropped" in report.summary()
    assert "line 2" in report.first_problem


def test_pair_files_are_read_as_given(tmp_path):
    path = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"question": "q1", "positive": "p1", "negatives": ["n1", "n2", "p1"]},
            {"question": "q2", "positive": "p2"},
            {"question": "q3"},
            {"question": "q1", "positive": "again"},
        ],
    )
    assert detect_training_format(path) == "pairs"
    examples, report = read_pairs(path, hard_negatives=1)
    # q2 has no negative of its own: another question's positive stands in (a random negative).
    assert [(e.question, e.positive, e.negatives) for e in examples] == [("q1", "p1", ["n1"]), ("q2", "p2", ["p1"])]
    assert (report.malformed, report.duplicates, report.short_of_negatives) == (1, 1, 1)


def test_llamaindex_datasets_are_read_query_by_query(tmp_path):
    """`EmbeddingQAFinetuneDataset.save_json` output (indented JSON): each query with its passage."""
    dataset = {
        "queries": {"a": "Who built it?", "b": "Which river?", "c": "who built it?", "d": "Orphan?", "e": " "},
        "corpus": {"n1": "Eiffel built it.", "n2": "The Nile."},
        "relevant_docs": {"a": ["n1"], "b": ["n2"], "c": ["n1"], "d": ["gone"], "e": ["n2"]},
        "mode": "text",
    }
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(dataset, indent=4), encoding="utf-8")
    assert detect_training_format(path) == "llamaindex"
    examples, report = build_examples(path, None, hard_negatives=1)
    assert [(e.question, e.positive, e.negatives) for e in examples] == [
        ("Who built it?", "Eiffel built it.", ["The Nile."]),
        ("Which river?", "The Nile.", ["Eiffel built it."]),
    ]
    assert (report.format, report.lines_read, report.malformed, report.duplicates, report.no_answer) == (
        "llamaindex",
        5,
        1,
        1,
        1,
    )
    assert "query 'd'" in report.first_problem
    broken = tmp_path / "broken.json"
    broken.write_text('{"queries": {"a": "q"},\n "corpus": ', encoding="utf-8")
    with pytest.raises(RagError, match="LlamaIndex dataset"):
        build_examples(broken, None)


def test_a_question_file_needs_a_collection_and_a_file_of_neither_kind_is_refused(tmp_path):
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": ["a"]}])
    with pytest.raises(RagError, match="--collection"):
        build_examples(qa, None)
    other = write_jsonl(tmp_path / "other.jsonl", [{"text": "hello"}])
    with pytest.raises(RagError, match="no record with"):
        build_examples(other, None)
    with pytest.raises(RagError, match="no such file"):
        build_examples(tmp_path / "missing.jsonl", None)


def test_validation_split_is_seeded_and_disjoint(coll):
    qa = read_qa(
        write_jsonl(
            coll.dir / "qa.jsonl",
            [{"question": f"who built the tower number {i}", "answer": ["Eiffel"]} for i in range(20)],
        )
    )
    examples, _ = mine_examples(qa.questions, coll)
    train_a, held_a = split_validation(examples, 0.25, 100, seed=1)
    train_b, held_b = split_validation(examples, 0.25, 100, seed=1)
    assert [e.question for e in held_a] == [e.question for e in held_b] and len(held_a) == 5
    assert not {e.question for e in train_a} & {e.question for e in held_a}
    pool = validation_set(held_a, coll, depth=2, pool_size=5)
    assert pool.questions == [e.question for e in held_a]
    assert text_of(coll, "tower-answer") in pool.corpus and len(pool.corpus) == len(set(pool.corpus)) == 5


def test_answers_found_in_too_many_passages_can_be_dropped(coll):
    path = write_jsonl(
        coll.dir / "qa.jsonl",
        [
            {"question": "who built the tower in paris", "answer": ["Gustave Eiffel"]},  # in one passage
            {"question": "which river is the longest river", "answer": ["river"]},  # in three
        ],
    )
    examples, report = build_examples(path, coll, max_answer_passages=2)
    assert [e.question for e in examples] == ["who built the tower in paris"] and report.common_answer == 1
    assert "1 with an answer found in too many passages dropped" in report.summary()
    assert len(build_examples(path, coll)[0]) == 2
