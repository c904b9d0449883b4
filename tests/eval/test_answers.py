"""Answer evaluation: hand-computed metrics, resuming, a LlamaIndex query engine, the judge, and the CLI."""

import json

import pytest
from llama_index.core.query_engine import CustomQueryEngine

from eval import EvalDataset, EvalQuestion, Judge, evaluate_answers
from prompts import load_prompt
from rag.answer import Answer, Source
from rag.llm import Generation
from retrievers import Passage

from ..conftest import run

DATASET = EvalDataset(
    "three",
    "squad",
    "three.json",
    [
        EvalQuestion("q1", "Who designed the tower?", ("Gustave Eiffel",), {"tower": 1}),
        EvalQuestion("q2", "Which river carries most water?", ("Amazon",), {"rivers": 1}),
        EvalQuestion("q3", "Which pet catches mice?", ("cat",), {"cats": 1}),
        EvalQuestion("q4", "An unanswerable one?", ()),
    ],
)
PASSAGES = {"q1": "Gustave Eiffel designed the tower.", "q2": "The Nile is long.", "q3": "Cats catch mice."}
REPLIES = {"q1": "Gustave Eiffel [1]", "q2": "The Amazon river [1]", "q3": "I could not find that."}


class FakeEngine:
    """Our Engine's surface: `.llm.model` and `.ask()` returning an `Answer`."""

    class llm:  # noqa: N801
        model = "fake/model"

    def __init__(self, fail_on: str | None = None):
        self.asked: list[str] = []
        self.fail_on = fail_on

    def ask(self, question: str) -> Answer:
        qid = next(q.id for q in DATASET.questions if q.question == question)
        if qid == self.fail_on:
            raise AssertionError("a resumed question must not be asked again")
        self.asked.append(qid)
        source = Source(1, Passage(qid, PASSAGES[qid]), 0.5, cited=qid != "q3")
        return Answer(
            question,
            question,
            REPLIES[qid],
            [source],
            "fake/model",
            refused=qid == "q3",
            timings={"total_ms": 100.0 * len(self.asked)},
            usage={"prompt_tokens": 50, "completion_tokens": 4},
        )


def test_metrics_are_hand_computable():
    report = evaluate_answers(DATASET, FakeEngine())
    scores = report.results["fake/model"]
    # q1 exact; q2 "amazon river" vs "amazon": F1 = 2*(1/2*1)/(1.5) = 2/3, contained; q3 refused: 0
    assert scores["em"] == pytest.approx(33.3) and scores["f1"] == pytest.approx(55.6)
    assert scores["answer_contained"] == pytest.approx(66.7)
    # cited passages: q1's holds the answer, q2's (the Nile) does not; q3 cites nothing and is not counted
    assert scores["citation_accuracy"] == 50.0
    # support: q1 "gustave eiffel" 2/2, q2 "amazon river" 0/2; the refusal is not scored
    assert scores["lexical_support"] == 50.0 and scores["refused"] == pytest.approx(33.3)
    assert scores["latency_ms_mean"] == 200.0 and scores["completion_tokens_mean"] == 4.0
    assert report.questions == 3 and "faithfulness" not in scores  # q4 has no gold answer


def test_an_interrupted_run_resumes_from_its_results_file(tmp_path):
    results = tmp_path / "results.jsonl"
    first = evaluate_answers(DATASET, FakeEngine(), limit=1, results_path=results)
    assert first.questions == 1 and len(results.read_text().splitlines()) == 1
    with results.open("a") as fh:
        fh.write('{"model": "fake/model", "id": "q2", "em"')  # a write cut short by a crash
    engine = FakeEngine(fail_on="q1")
    second = evaluate_answers(DATASET, engine, results_path=results)
    assert engine.asked == ["q2", "q3"] and second.resumed == 1
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["q1", "q2", "q3"]
    fresh = evaluate_answers(DATASET, FakeEngine()).results["fake/model"]
    resumed = second.results["fake/model"]
    assert {k: v for k, v in resumed.items() if "latency" not in k} == {
        k: v for k, v in fresh.items() if "latency" not in k
    }


class EchoQueryEngine(CustomQueryEngine):
    """Somebody else's LlamaIndex query engine."""

    def custom_query(self, query_str: str):
        from llama_index.core.base.response.schema import Response
        from llama_index.core.schema import NodeWithScore, TextNode

        node = NodeWithScore(node=TextNode(text="The Amazon carries the most water."), score=1.0)
        return Response(response="The Amazon", source_nodes=[node])


def test_a_llamaindex_query_engine_is_evaluated_too():
    report = evaluate_answers(DATASET, EchoQueryEngine(), label="echo", limit=2)
    scores = report.results["echo"]
    assert scores["em"] == 50.0 and scores["citation_accuracy"] == 50.0 and scores["lexical_support"] == 100.0


class YesNo:
    def __init__(self, verdicts):
        self.verdicts = list(verdicts)

    def complete(self, messages):
        assert "Gustave Eiffel designed the tower." in messages[0]["content"]  # the passages go to the judge
        return Generation(text=self.verdicts.pop(0))


def test_the_judge_scores_faithfulness_and_ignores_unusable_verdicts():
    judge = Judge(YesNo(["YES.", "maybe"]), load_prompt("judge"))
    one = EvalDataset("one", "squad", "one.json", DATASET.questions[:1])
    assert evaluate_answers(one, FakeEngine(), judge=judge).results["fake/model"]["faithfulness"] == 100.0
    assert "faithfulness" not in evaluate_answers(one, FakeEngine(), judge=judge).results["fake/model"]


@pytest.mark.slow
def test_cli_answers_with_a_litellm_model_and_resumes(squad_file, fake_provider, tmp_path, capsys):
    store, out_dir = str(tmp_path / "store"), tmp_path / "answers"
    argv = (
        "eval",
        "answers",
        "--dataset",
        f"squad:{squad_file}",
        "--store",
        store,
        "--model",
        fake_provider,
        "--report",
        str(out_dir),
        "--json",
        "--no-progress",
    )
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    report = json.loads(out)
    assert report["collection"] == "squad-tiny" and report["n_questions"] == 3 and report["resumed"] == 0
    scores = report["results"][fake_provider]
    assert {"em", "f1", "answer_contained", "lexical_support", "latency_ms_mean"} <= set(scores)
    assert scores["em"] == 0.0  # the fake model echoes its prompt
    assert len((out_dir / "results.jsonl").read_text().splitlines()) == 3
    assert (out_dir / "answer_scores.png").read_bytes()[:4] == b"\x89PNG" and (out_dir / "report.md").is_file()

    code, out, _ = run(capsys, *argv)
    assert code == 0 and json.loads(out)["resumed"] == 3
    assert len((out_dir / "results.jsonl").read_text().splitlines()) == 3


@pytest.mark.slow
def test_cli_answers_only_questions_the_collection_can_answer_when_asked(store, fake_provider, tmp_path, capsys):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"question": "Which planet is red?", "answer": ["Mars"]}\n'
        '{"question": "What is the capital of Peru?", "answer": ["Lima"]}\n',
        encoding="utf-8",
    )
    argv = ("eval", "answers", "--qa", str(qa), "--store", store, "--model", fake_provider, "--json")
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert json.loads(out)["n_questions"] == 2
    code, out, _ = run(capsys, *argv, "--max-answer-passages", "5")
    assert code == 0 and json.loads(out)["n_questions"] == 1  # Lima is in no passage


class ReaderEngine(FakeEngine):
    """FakeEngine with a reader: short answers by hand, and q1's generated answer snapped to its span."""

    SHORT = {"q1": "Eiffel", "q2": "Nile", "q3": "Cats"}

    def ask(self, question: str) -> Answer:
        from rag.answer import ShortAnswer

        answer = super().ask(question)
        qid = next(q.id for q in DATASET.questions if q.question == question)
        text = PASSAGES[qid]
        at = text.find(self.SHORT[qid])
        answer.short_answer = ShortAnswer(self.SHORT[qid], 1, qid, at, at + len(self.SHORT[qid]), text, 3.0)
        if qid == "q1":
            answer.grounded = ShortAnswer("Gustave Eiffel", 1, qid, 0, 14, text, 1.0, kind="snapped")
        answer.timings["lead_ms"] = 10.0 * len(self.asked)
        if qid != "q2":  # the reader ran with its span check for q1 and q3, and alone for q2
            answer.timings.update(reader_ms=30.0, span_check_ms=70.0)
        else:
            answer.timings["reader_ms"] = 40.0
        return answer


def test_reader_llm_and_combined_answers_are_scored_side_by_side():
    scores = evaluate_answers(DATASET, ReaderEngine()).results["fake/model"]
    assert scores["em"] == pytest.approx(33.3)  # the LLM alone, as without a reader
    # reader: "Eiffel" vs "Gustave Eiffel" F1 2/3; "Nile" vs "Amazon" 0; "Cats" vs "cat" 0 (no stemming): EM 0
    assert scores["reader_em"] == 0.0 and scores["reader_f1"] == pytest.approx(22.2)
    # only q1's passage holds a gold answer ("cat" is not "Cats")
    assert scores["reader_citation_accuracy"] == pytest.approx(33.3)
    # combined: q1 the snapped "Gustave Eiffel" (exact), q2 and q3 the reader's
    assert scores["combined_em"] == pytest.approx(33.3) and scores["combined_f1"] == pytest.approx(33.3)
    assert scores["reader_ms_p50"] == 100.0 and scores["lead_ms_p50"] == 20.0  # medians of (100, 40, 100), (10..30)
    plain = evaluate_answers(DATASET, FakeEngine()).results["fake/model"]
    assert not any(name.startswith(("reader_", "combined_", "lead_")) for name in plain)
