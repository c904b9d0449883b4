"""Retrieval evaluation: the Python API on hand-made rankings, any LlamaIndex retriever, and the CLI end to end."""

import json

import pytest
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, TextNode

from eval import EvalDataset, EvalQuestion, Hit, evaluate_retrievers

from ..conftest import run

DATASET = EvalDataset(
    "three",
    "squad",
    "three.json",
    [
        EvalQuestion("q1", "Who designed the tower?", ("Gustave Eiffel",), {"tower": 1}),
        EvalQuestion("q2", "Which river carries most water?", ("Amazon",), {"rivers": 1}),
        EvalQuestion("q3", "Which pet catches mice?", ("cat",), {"cats": 1}),
    ],
)
TEXTS = {
    "tower": "Gustave Eiffel designed it.",
    "rivers": "The Amazon carries the most water.",
    "cats": "A cat catches mice.",
    "noise": "Nothing useful here.",
}
RANKED = {"q1": ["tower", "noise"], "q2": ["noise", "rivers"], "q3": ["noise", "noise"]}


def scripted(question: str, k: int) -> list[Hit]:
    qid = next(q.id for q in DATASET.questions if q.question == question)
    return [Hit(doc, TEXTS[doc], 1.0 / (rank + 1)) for rank, doc in enumerate(RANKED[qid])][:k]


def test_scores_are_hand_computable():
    report = evaluate_retrievers(DATASET, {"scripted": scripted}, ks=[1, 2])
    scores = report.results["scripted"]
    # top-1: only q1; top-2: q1 and q2. The repeated "noise" counts once for recall and nDCG.
    assert scores["top1"] == pytest.approx(33.3) and scores["top2"] == pytest.approx(66.7)
    assert scores["recall@1"] == pytest.approx(33.3) and scores["recall@2"] == pytest.approx(66.7)
    assert scores["mrr@10"] == pytest.approx(50.0)  # (1 + 1/2 + 0) / 3
    assert scores["ndcg@10"] == pytest.approx(100 * (1 + 0.63093) / 3, abs=0.05)  # 1/log2(3) = 0.63093
    q2 = next(r for r in report.details if r["id"] == "q2")
    assert q2["answer_rank"] == 2 and q2["gold_ranks"] == [2] and q2["retrieved"] == ["noise", "rivers"]
    assert "| scripted | 33.3 | 66.7 |" in report.table()


class KeywordRetriever(BaseRetriever):
    """Somebody else's LlamaIndex retriever: word overlap, nodes with a `doc_id` in their metadata."""

    def _retrieve(self, query_bundle):
        words = set(query_bundle.query_str.lower().strip("?").split())
        scored = [(len(words & set(text.lower().strip(".").split())), doc) for doc, text in TEXTS.items()]
        return [
            NodeWithScore(node=TextNode(text=TEXTS[doc], metadata={"doc_id": doc}), score=float(s))
            for s, doc in sorted(scored, reverse=True)
        ]


def test_any_llamaindex_retriever_can_be_evaluated():
    report = evaluate_retrievers(DATASET, {"keywords": KeywordRetriever()}, ks=[1])
    q3 = next(r for r in report.details if r["id"] == "q3")
    assert q3["retrieved"] == ["cats"] and q3["answer_rank"] == 1
    assert report.to_dict()["n_questions"] == 3 and "keywords" in report.to_dict()["results"]


@pytest.mark.slow
def test_cli_ingests_a_squad_file_and_writes_a_report(squad_file, tmp_path, capsys):
    store, out_dir = str(tmp_path / "store"), tmp_path / "report"
    code, out, err = run(
        capsys,
        "eval",
        "retrieval",
        "--dataset",
        f"squad:{squad_file}",
        "--store",
        store,
        "-k",
        "1,3",
        "--report",
        str(out_dir),
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["collection"] == "squad-tiny" and report["n_questions"] == 3
    assert list(report["results"]) == ["bm25", "dense", "hybrid-rrf", "hybrid-linear"]
    for scores in report["results"].values():
        assert {"top1", "top3", "recall@1", "recall@3", "mrr@10", "ndcg@10"} <= set(scores)
        assert scores["recall@3"] == 100.0  # three paragraphs in all
    lines = (out_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["gold"] == {"Paris#0": 1}
    for name in ("topk_accuracy.png", "score_distributions.png"):
        assert (out_dir / name).read_bytes()[:4] == b"\x89PNG"
    markdown = (out_dir / "report.md").read_text(encoding="utf-8")
    assert "| hybrid-rrf |" in markdown and "![topk_accuracy.png](topk_accuracy.png)" in markdown
    assert "rag eval retrieval --dataset squad:" in markdown

    # The dataset's collection is kept: a second run encodes nothing and gives the same figures.
    code, out, _ = run(
        capsys,
        "eval",
        "retrieval",
        "--dataset",
        str(squad_file),
        "--store",
        store,
        "-k",
        "1,3",
        "--modes",
        "bm25",
        "--json",
    )
    again = json.loads(out)["results"]["bm25"]
    assert code == 0 and again.pop("ms_per_question") > 0
    assert again == {k: v for k, v in report["results"]["bm25"].items() if k != "ms_per_question"}
    code, out, _ = run(capsys, "collections", "--store", store, "--json")
    assert [(c["name"], c["passages"]) for c in json.loads(out)] == [("squad-tiny", 3)]


@pytest.mark.slow
def test_distractors_are_merged_and_a_foreign_collection_drops_gold_metrics(squad_file, store, capsys):
    code, out, err = run(
        capsys,
        "eval",
        "retrieval",
        "--dataset",
        f"squad:{squad_file}",
        "--store",
        store,
        "--distractors",
        "default",
        "--modes",
        "bm25",
        "-k",
        "1,5",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["collection"] == "squad-tiny-with-default" and report["results"]["bm25"]["recall@5"] == 100.0
    code, out, _ = run(capsys, "collections", "--store", store, "--json")
    assert {c["name"]: c["passages"] for c in json.loads(out)}["squad-tiny-with-default"] == 3 + 5

    # Over the tiny documents (no SQuAD paragraph ids), answer matching still works; gold metrics are left out.
    code, out, err = run(
        capsys,
        "eval",
        "retrieval",
        "--dataset",
        f"squad:{squad_file}",
        "--store",
        store,
        "--collection",
        "default",
        "--modes",
        "bm25",
        "-k",
        "1,5",
    )
    assert code == 0 and "recall@" not in out
    assert "no passage of the collection carries one of the dataset's gold document ids" in out
    assert "| bm25 |" in out


def test_cli_bad_input_is_a_message_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": ["a"]}\n{"question": \n', encoding="utf-8")
    code, _, err = run(capsys, "eval", "retrieval", "--dataset", f"nq-open:{bad}", "--store", str(tmp_path / "s"))
    assert code == 1 and "bad.jsonl" in err and "line 2" in err and "Traceback" not in err
    code, _, err = run(capsys, "eval", "retrieval", "--store", str(tmp_path / "s"))
    assert code == 2 and "--dataset" in err
    code, _, err = run(capsys, "eval", "retrieval", "--dataset", f"nq-open:{bad}", "-k", "0,x")
    assert code == 1 or code == 2
    code, _, err = run(capsys, "eval", "retrieval", "--dataset", "parquet:x.parquet")
    assert code == 1 and "nq-open" in err  # the known formats are listed
