"""Evaluation dataset loaders on tiny hand-written files: what is kept, what is skipped, and the error messages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from retrievers.datasets import FORMATS, DatasetError, Document, EvalDataset, EvalQuestion, detect_format, load_dataset
from retrievers.errors import RagError


def write(path: Path, content: str | object, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding=encoding)
    return path


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# --- NQ-open ---------------------------------------------------------------------------------------------------------

NQ = (
    jsonl(
        {"question": "Who wrote Hamlet?", "answer": ["William Shakespeare", "Shakespeare", "Shakespeare"]},
        {"question": "who wrote  hamlet", "answer": ["someone else"]},
        {"question": "Nothing to answer?", "answer": ["", "  "]},
        {"question": "Capital of France?", "answer": "Paris"},
    )
    + "\n"
)


def test_nq_open_keeps_answered_unique_questions_with_their_answers_as_written(tmp_path):
    ds = load_dataset(str(write(tmp_path / "nq.dev.jsonl", NQ)))
    assert (ds.name, ds.format, ds.documents) == ("nq.dev", "nq-open", [])
    assert ds.questions == [
        EvalQuestion("q1", "Who wrote Hamlet?", ("William Shakespeare", "Shakespeare")),
        EvalQuestion("q2", "Capital of France?", ("Paris",)),
    ]  # repeats and blanks dropped
    assert all(q.gold == {} and q.reference_answer is None for q in ds.questions)
    assert ds.skipped == {"duplicate question": 1, "empty question or no answer": 1}


def test_nq_open_tolerates_a_byte_order_mark(tmp_path):
    ds = load_dataset("nq-open:" + str(write(tmp_path / "bom.jsonl", NQ, encoding="utf-8-sig")))
    assert [q.question for q in ds.questions] == ["Who wrote Hamlet?", "Capital of France?"]


def test_nq_open_bad_line_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.jsonl", jsonl({"question": "q", "answer": ["a"]}) + '{"question": "q2"}\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl, line 2"):
        load_dataset(str(path))


# --- SQuAD -----------------------------------------------------------------------------------------------------------


def qa(qid: str, question: str, *answers: str, impossible: bool | None = None) -> dict:
    out: dict = {"id": qid, "question": question, "answers": [{"text": a, "answer_start": 0} for a in answers]}
    if impossible is not None:
        out["is_impossible"] = impossible
    return out


SQUAD_V2 = {
    "version": "v2.0",
    "data": [
        {
            "title": "Paris",
            "paragraphs": [
                {
                    "context": "Paris is the capital of France.",
                    "qas": [
                        qa("a1", "What is the capital of France?", "Paris", "Paris", " Paris ", impossible=False),
                        qa("a2", "What is the capital of Spain?", impossible=True),
                    ],
                },
                {
                    "context": "The Seine flows through Paris.",
                    "qas": [
                        qa("a3", "Which river flows through Paris?", "Seine", "the Seine"),
                        qa("a1", "Repeated id?", "x"),
                        qa("a4", "what is the capital of FRANCE", "Paris"),
                        qa("a5", "  ", "x"),
                    ],
                },
            ],
        },
        {
            "title": "Nile",
            "paragraphs": [{"context": "The Nile is in Africa.", "qas": [qa("b1", "Where is the Nile?", "Africa")]}],
        },
        {
            "title": "Paris",
            "paragraphs": [
                {
                    "context": "Paris hosted the 1900 Olympics.",
                    "qas": [qa("c1", "When did Paris host the Olympics?", "1900")],
                }
            ],
        },
    ],
}


def test_squad_v2_paragraphs_are_documents_and_questions_point_at_theirs(tmp_path):
    ds = load_dataset(str(write(tmp_path / "dev-v2.0.json", SQUAD_V2)))
    assert (ds.name, ds.format) == ("dev-v2.0", "squad")
    assert [d.id for d in ds.documents] == ["Paris#0", "Paris#1", "Nile#0", "Paris~2#0"]
    assert ds.documents[3] == Document("Paris~2#0", "Paris", "Paris hosted the 1900 Olympics.")
    assert ds.questions == [
        EvalQuestion(
            "a1", "What is the capital of France?", ("Paris",), {"Paris#0": 1}, spans=(("Paris", 0), ("Paris", 1))
        ),  # " Paris " at 0 is "Paris" at 1
        EvalQuestion(
            "a3",
            "Which river flows through Paris?",
            ("Seine", "the Seine"),
            {"Paris#1": 1},
            spans=(("Seine", 0), ("the Seine", 0)),
        ),
        EvalQuestion("b1", "Where is the Nile?", ("Africa",), {"Nile#0": 1}, spans=(("Africa", 0),)),
        EvalQuestion("c1", "When did Paris host the Olympics?", ("1900",), {"Paris~2#0": 1}, spans=(("1900", 0),)),
    ]
    assert ds.skipped == {"unanswerable": 1, "duplicate question": 2, "empty question": 1}


def test_reader_training_reads_squad_with_the_same_reader_as_eval(tmp_path):
    """One SQuAD reader: `rag train-reader` trains on exactly the questions `rag eval` scores, with their offsets."""
    from rag.jobs.reader_training import is_squad, read_squad

    data = {
        "data": [
            {
                "title": "Seine",
                "paragraphs": [
                    {
                        "context": "The Seine flows through Paris.",
                        "qas": [
                            {
                                "id": "s1",
                                "question": "Which river flows through Paris?",
                                "answers": [{"text": "Seine", "answer_start": 4}, {"text": "Seine", "answer_start": 4}],
                            },
                            {
                                "id": "s2",
                                "question": "which river flows through paris",
                                "answers": [{"text": "Seine", "answer_start": 4}],
                            },
                            {"id": "s3", "question": "No answer?", "answers": [], "is_impossible": True},
                        ],
                    }
                ],
            }
        ]
    }
    path = write(tmp_path / "train.json", data)
    assert is_squad(path) and not is_squad(write(tmp_path / "nq.jsonl", jsonl({"question": "q", "answer": ["a"]})))
    ds = load_dataset(f"squad:{path}")
    assert read_squad(path) == [
        ("Seine", "The Seine flows through Paris.", q.question, list(q.spans)) for q in ds.questions
    ]
    assert read_squad(path) == [
        ("Seine", "The Seine flows through Paris.", "Which river flows through Paris?", [("Seine", 4)])
    ]


def test_squad_question_missing_its_text_names_the_json_path(tmp_path):
    data = json.loads(json.dumps(SQUAD_V2))
    del data["data"][0]["paragraphs"][1]["qas"][0]["question"]
    path = write(tmp_path / "broken.json", data)
    with pytest.raises(DatasetError, match=r"broken\.json, data\[0\]\.paragraphs\[1\]\.qas\[0\]\.question: missing"):
        load_dataset(f"squad:{path}")


def test_invalid_json_names_line_and_column(tmp_path):
    path = write(tmp_path / "trunc.json", '{"data": [\n  {"title": "x",,}\n]}')
    with pytest.raises(DatasetError, match=r"trunc\.json, line 2, column 17: invalid JSON"):
        load_dataset(f"squad:{path}")


# --- BEIR ------------------------------------------------------------------------------------------------------------


def beir(folder: Path) -> Path:
    write(
        folder / "corpus.jsonl",
        jsonl(
            {"_id": "d1", "title": "Cats", "text": "Cats purr."},
            {"_id": "d2", "title": "Dogs", "text": "Dogs bark."},
            {"_id": "d3", "text": "Birds sing.", "metadata": {}},
        ),
    )
    write(
        folder / "queries.jsonl",
        jsonl(
            {"_id": "q1", "text": "Do cats purr?"},
            {"_id": "q2", "text": "Which animals sing?"},
            {"_id": "q3", "text": "What do fish do?"},
            {"_id": "q4", "text": "Do dogs bark?"},
        ),
    )
    write(
        folder / "qrels" / "test.tsv",
        "query-id\tcorpus-id\tscore\n"
        "q1\td1\t1\nq1\td2\t0\n"  # a zero-score pair is not gold
        "q2\td3\t2\nq2\tdX\t1\n"  # dX is not in the corpus
        "q3\tdY\t1\n",
    )  # q3 has no known relevant document
    write(folder / "qrels" / "dev.tsv", "query-id\tcorpus-id\tscore\nq4\td2\t1\n")
    return folder


def test_beir_questions_are_the_queries_with_positive_qrels(tmp_path):
    ds = load_dataset(str(beir(tmp_path / "scifact")))
    assert (ds.name, ds.format, ds.path) == ("scifact", "beir", str(tmp_path / "scifact"))
    assert ds.documents == [
        Document("d1", "Cats", "Cats purr."),
        Document("d2", "Dogs", "Dogs bark."),
        Document("d3", "", "Birds sing."),
    ]
    assert ds.questions == [
        EvalQuestion("q1", "Do cats purr?", (), {"d1": 1}),
        EvalQuestion("q2", "Which animals sing?", (), {"d3": 2}),
    ]
    assert ds.skipped == {"unknown document in qrels": 2, "no relevant document": 1}  # q4: another split


def test_beir_split_picks_the_qrels_file(tmp_path):
    folder = beir(tmp_path / "scifact")
    ds = load_dataset(f"beir:{folder}", split="dev")
    assert ds.name == "scifact-dev"
    assert ds.questions == [EvalQuestion("q4", "Do dogs bark?", (), {"d2": 1})]
    assert ds.skipped == {}
    with pytest.raises(DatasetError, match=r"no split 'train'.*available: dev, test"):
        load_dataset(str(folder), split="train")
    (folder / "qrels" / "test.tsv").unlink()
    assert load_dataset(str(folder)).name == "scifact-dev"  # no test split: dev


def test_beir_bad_corpus_line_names_file_and_line(tmp_path):
    folder = beir(tmp_path / "nfcorpus")
    write(folder / "corpus.jsonl", jsonl({"_id": "d1", "text": "ok"}) + '{"_id": "d2", "text": \n')
    with pytest.raises(DatasetError, match=r"corpus\.jsonl, line 2, column \d+: invalid JSON"):
        load_dataset(str(folder))


def test_beir_missing_field_names_file_line_and_field(tmp_path):
    folder = beir(tmp_path / "fiqa")
    write(folder / "queries.jsonl", jsonl({"_id": "q1", "text": "ok"}, {"_id": "q2", "title": "no text"}))
    with pytest.raises(DatasetError, match=r'queries\.jsonl, line 2, field "text": missing'):
        load_dataset(str(folder))


# --- LlamaIndex ------------------------------------------------------------------------------------------------------


def ctx_id(text: str) -> str:
    return "ctx-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def example(query: str, contexts: list[str] | None, answer: str) -> dict:
    return {
        "query": query,
        "query_by": {"model_name": "gpt-4", "type": "ai"},
        "reference_contexts": contexts,
        "reference_answer": answer,
        "reference_answer_by": None,
    }


A, B = "Cats purr when content.", "Dogs bark at strangers."
LLAMA = {
    "examples": [
        example("Why do cats purr?", [A, B], "Contentment."),
        example("When do dogs bark?", [B], "At strangers."),
        example("Unsupported?", None, "No context."),
        example("why do cats purr", [A], "Duplicate."),
    ]
}


def test_llamaindex_reference_contexts_are_shared_documents(tmp_path):
    ds = load_dataset(str(write(tmp_path / "rag_dataset.json", LLAMA)))
    assert (ds.name, ds.format) == ("rag_dataset", "llamaindex")
    assert ds.documents == [Document(ctx_id(A), "", A), Document(ctx_id(B), "", B)]
    assert ds.questions == [
        EvalQuestion("e1", "Why do cats purr?", (), {ctx_id(A): 1, ctx_id(B): 1}, "Contentment."),
        EvalQuestion("e2", "When do dogs bark?", (), {ctx_id(B): 1}, "At strangers."),
        EvalQuestion("e3", "Unsupported?", (), {}, "No context."),
    ]
    assert ds.skipped == {"duplicate question": 1}


def test_llamaindex_missing_query_names_the_example(tmp_path):
    data = {"examples": [example("ok?", [A], "yes"), {"reference_contexts": [A], "reference_answer": "x"}]}
    with pytest.raises(DatasetError, match=r"ds\.json, examples\[1\]\.query: missing"):
        load_dataset(f"llamaindex:{write(tmp_path / 'ds.json', data)}")


# --- detection and specs ---------------------------------------------------------------------------------------------


def test_detect_format_on_each_format(tmp_path):
    assert detect_format(write(tmp_path / "nq.jsonl", NQ)) == "nq-open"
    assert detect_format(write(tmp_path / "squad.json", SQUAD_V2)) == "squad"
    assert detect_format(beir(tmp_path / "beir")) == "beir"
    assert detect_format(str(write(tmp_path / "llama.json", LLAMA))) == "llamaindex"


@pytest.mark.parametrize(
    "name, content",
    [
        ("other.json", {"rows": [1, 2]}),
        ("other.jsonl", jsonl({"text": "no question here"})),
        ("notes.txt", "just some words\n"),
    ],
)
def test_detect_format_refuses_an_unknown_file(tmp_path, name, content):
    with pytest.raises(
        DatasetError,
        match=r"cannot tell the dataset format.*nq-open, squad, beir, llamaindex.*"
        r"FORMAT:PATH",
    ):
        detect_format(write(tmp_path / name, content))
    with pytest.raises(DatasetError, match="cannot tell"):
        detect_format(tmp_path)  # a folder without corpus.jsonl


def test_unknown_format_prefix_names_the_known_ones(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown dataset format 'trec'.*nq-open, squad, beir, llamaindex"):
        load_dataset(f"trec:{tmp_path / 'x.json'}")
    assert FORMATS == ("nq-open", "squad", "beir", "llamaindex")


def test_missing_path_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match=r"missing\.jsonl: no such file"):
        load_dataset(str(tmp_path / "missing.jsonl"))
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(f"SQuAD:{tmp_path / 'missing.json'}")  # the prefix is case-insensitive
    assert issubclass(DatasetError, RagError)


def test_paths_with_a_colon_are_plain_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "nq:dev.jsonl", NQ)
    ds = load_dataset("nq:dev.jsonl")
    assert (ds.format, ds.name, len(ds.questions)) == ("nq-open", "nq:dev", 2)
    assert isinstance(ds, EvalDataset)


def test_split_is_for_beir_only(tmp_path):
    with pytest.raises(DatasetError, match="BEIR"):
        load_dataset(str(write(tmp_path / "nq.jsonl", NQ)), split="dev")
