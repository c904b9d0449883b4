"""`rag train-reader` end to end on the tiny collection (NQ-open style and SQuAD files), and its errors."""

import json
import re

import pytest

from rag.cli import main
from retrievers.reader import ReaderTrainConfig, read_reader_record

from .conftest import run

pytestmark = pytest.mark.slow

QUESTIONS = [
    {"question": "who designed the eiffel tower", "answer": ["Gustave Eiffel"]},
    {"question": "which river flows north into the mediterranean", "answer": ["Nile"]},
    {"question": "which is the fourth planet from the sun", "answer": ["Mars"]},
    {"question": "what do house cats catch", "answer": ["mice"]},
    {"question": "how often does the moon orbit the earth", "answer": ["about every 27 days", "27 days"]},
    {"question": "who wrote hamlet", "answer": ["Shakespeare"]},  # not in the collection: no positive
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def train_tiny_reader(store, tmp_path, capsys):
    """Train on the tiny collection's questions, check the record, and return the reader's directory."""
    qa = write_jsonl(tmp_path / "qa.jsonl", QUESTIONS)
    out = tmp_path / "reader"
    code, stdout, err = run(
        capsys,
        "train-reader",
        "--qa",
        str(qa),
        "--store",
        store,
        "--out",
        str(out),
        "--epochs",
        "1",
        "--passages",
        "2",
        "--validation-fraction",
        "0.25",
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    record = json.loads(stdout)
    assert record["data"]["examples"] >= 3 and "5 (83.3%) with an answer" in record["data"]["provenance"]["labelled"]
    assert len(record["validation"]) == 2 and record["validation"][0]["questions"] == 1
    defaults = ReaderTrainConfig()
    assert record["config"]["epochs"] == 1 and record["config"]["passages"] == 2  # the flags given
    assert record["config"]["learning_rate"] == defaults.learning_rate  # and the config's defaults for the rest
    assert record["config"]["questions_per_step"] == defaults.questions_per_step
    assert read_reader_record(out)["training"]["steps"] == record["steps"]

    code, _, err = run(capsys, "train-reader", "--qa", str(qa), "--store", store, "--out", str(out), "--no-progress")
    assert code == 1 and "already holds a trained reader" in err and "--overwrite" in err
    return out


def test_train_reader_help_states_the_configs_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train-reader", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    defaults = ReaderTrainConfig()
    for flag, value in (
        ("--epochs", defaults.epochs),
        ("--passages", defaults.passages),
        ("--questions-per-step", defaults.questions_per_step),
        ("--learning-rate", defaults.learning_rate),
        ("--max-length", defaults.max_length),
        ("--seeds", defaults.seeds),
    ):
        help_text = text.split(flag, 2)[-1].split(" --")[0]  # the flag's entry in the options list
        stated = re.search(r"\(default ([0-9.e-]+)", help_text)
        assert stated and float(stated[1]) == value, (flag, help_text)


def test_train_reader_labels_over_the_collection_trains_and_saves(store, tmp_path, capsys):
    assert read_reader_record(train_tiny_reader(store, tmp_path, capsys)) is not None


def test_train_reader_pretrains_on_cloze_questions_from_the_collection_first(store, tmp_path, capsys):
    qa = write_jsonl(tmp_path / "qa.jsonl", QUESTIONS)
    code, stdout, err = run(
        capsys,
        "train-reader",
        "--qa",
        str(qa),
        "--store",
        store,
        "--out",
        str(tmp_path / "r"),
        "--epochs",
        "1",
        "--passages",
        "2",
        "--validation-fraction",
        "0.25",
        "--cloze",
        "6",
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    record = json.loads(stdout)
    pre = record["pretraining"]
    assert 1 <= pre["examples"] <= 6 and pre["steps"] == 1 and pre["loss"]["first"] > 0
    assert record["data"]["provenance"]["cloze"] == {"questions": pre["examples"], "collection": "default"}
    assert record["config"]["cloze_batch"] == ReaderTrainConfig().cloze_batch
    code, _, err = run(
        capsys,
        "train-reader",
        "--qa",
        str(qa),
        "--store",
        store,
        "--out",
        str(tmp_path / "r2"),
        "--cloze",
        "6",
        "--cloze-from",
        "nowhere",
        "--no-progress",
    )
    assert code == 1 and "nowhere" in err and "Traceback" not in err and not (tmp_path / "r2").exists()


def test_train_reader_with_seeds_averages_the_readers_and_says_how_each_did(store, tmp_path, capsys):
    qa = write_jsonl(tmp_path / "qa.jsonl", QUESTIONS)
    code, out, err = run(
        capsys,
        "train-reader",
        "--qa",
        str(qa),
        "--store",
        store,
        "--out",
        str(tmp_path / "r"),
        "--epochs",
        "1",
        "--passages",
        "1",
        "--seeds",
        "2",
        "--validation-fraction",
        "0.25",
        "--no-progress",
    )
    assert code == 0, err
    assert "averaged weights of 2 readers (held-out F1 of each: " in out
    record = read_reader_record(tmp_path / "r")["training"]
    assert record["config"]["seeds"] == 2 and [m["seed"] for m in record["members"]] == [42, 43]
    assert record["averaged"]["questions"] == 1
    code, _, err = run(
        capsys,
        "train-reader",
        "--qa",
        str(qa),
        "--store",
        store,
        "--out",
        str(tmp_path / "r3"),
        "--seeds",
        "0",
        "--no-progress",
    )
    assert code == 1 and "seeds must be at least 1" in err and "Traceback" not in err


def test_a_validation_file_is_held_out_and_only_its_first_questions_are_read(store, tmp_path, capsys, monkeypatch):
    import rag.jobs.reader_training as reader_training

    monkeypatch.setattr(reader_training, "MAX_VALIDATION_QUESTIONS", 2)
    asked = []
    search = reader_training._Retrieval.__call__

    def counting(self, questions, depth, progress):
        asked.append(len(questions))
        return search(self, questions, depth, progress)

    monkeypatch.setattr(reader_training._Retrieval, "__call__", counting)
    qa = write_jsonl(tmp_path / "qa.jsonl", QUESTIONS)
    held = write_jsonl(tmp_path / "held.jsonl", QUESTIONS[2:5])
    code, stdout, err = run(
        capsys,
        "train-reader",
        "--qa",
        str(qa),
        "--validation",
        str(held),
        "--store",
        store,
        "--out",
        str(tmp_path / "r"),
        "--epochs",
        "1",
        "--passages",
        "2",
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    record = json.loads(stdout)
    assert asked == [len(QUESTIONS), 2]  # the training file, then only the 2 validation questions used
    assert record["validation"][0]["questions"] == 2
    assert record["data"]["examples"] == 3  # 5 labelled, less the 2 held out


@pytest.fixture
def reader_dir(store, tmp_path, capsys):
    return train_tiny_reader(store, tmp_path, capsys)


def test_ask_with_the_reader_returns_a_short_answer_from_a_retrieved_passage(store, reader_dir, capsys, fake_provider):
    code, out, err = run(
        capsys,
        "ask",
        "who designed the eiffel tower",
        "--store",
        store,
        "--reader",
        str(reader_dir),
        "--model",
        fake_provider,
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    short = data["short_answer"]
    retrieved = {s["n"]: s for s in data["retrieved"]}
    assert short["text"] and short["source"] in retrieved and short["id"] == retrieved[short["source"]]["id"]
    assert "**" + short["text"] + "**" in short["highlight"]
    code, out, _ = run(
        capsys,
        "ask",
        "who designed the eiffel tower",
        "--store",
        store,
        "--reader",
        str(reader_dir),
        "--model",
        fake_provider,
    )
    assert code == 0 and f"short answer: {short['text']} [{short['source']}]" in out


def test_a_reader_path_that_holds_no_reader_is_one_error_line(store, tmp_path, capsys, fake_provider):
    code, _, err = run(capsys, "ask", "who?", "--store", store, "--reader", str(tmp_path), "--model", fake_provider)
    assert code == 1 and "not a trained reader" in err and "rag train-reader" in err and "Traceback" not in err


def test_train_reader_reads_squad_files_with_their_own_spans(tmp_path, capsys):
    paragraphs = [
        {
            "context": "The Nile flows north into the Mediterranean Sea.",
            "qas": [
                {
                    "id": "1",
                    "question": "Where does the Nile flow?",
                    "answers": [{"text": "the Mediterranean Sea", "answer_start": 26}],
                }
            ],
        },
        {
            "context": "The Amazon carries more water than any other river.",
            "qas": [
                {
                    "id": "2",
                    "question": "Which river carries the most water?",
                    "answers": [{"text": "The Amazon", "answer_start": 0}],
                }
            ],
        },
        {
            "context": "The Danube flows through ten countries, more than any other river.",
            "qas": [
                {
                    "id": "4",
                    "question": "How many countries does the Danube flow through?",
                    "answers": [{"text": "ten", "answer_start": 999}],
                }
            ],
        },  # offset off: found by string
        {
            "context": "Rivers carry sediment to the sea.",
            "qas": [{"id": "3", "question": "Impossible?", "answers": [], "is_impossible": True}],
        },
    ]
    squad = tmp_path / "dev.json"
    squad.write_text(json.dumps({"version": "v2.0", "data": [{"title": "Rivers", "paragraphs": paragraphs}]}))
    out = tmp_path / "reader"
    code, stdout, err = run(
        capsys,
        "train-reader",
        "--qa",
        str(squad),
        "--store",
        str(tmp_path / "store"),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--validation-fraction",
        "0.5",
        "--no-progress",
    )
    assert code == 0, err
    assert "saved the reader to" in stdout and "held-out (1 questions)" in stdout
    assert read_reader_record(out)["training"]["data"]["examples"] == 2


def test_train_reader_mixes_an_nq_file_and_a_squad_file_into_one_training_set(store, tmp_path, capsys):
    qa = write_jsonl(tmp_path / "qa.jsonl", QUESTIONS)
    squad = tmp_path / "written.json"
    squad.write_text(
        json.dumps(
            {
                "data": [
                    {
                        "title": "Paris",
                        "paragraphs": [
                            {
                                "context": "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
                                "qas": [
                                    {
                                        "id": "s1",
                                        "question": "In what year was the Eiffel Tower finished?",
                                        "answers": [{"text": "1889", "answer_start": 43}],
                                    },
                                    {
                                        "id": "s2",
                                        "question": "For which event was the Eiffel Tower built?",
                                        "answers": [{"text": "the World's Fair", "answer_start": 52}],
                                    },
                                ],
                            }
                        ],
                    }
                ]
            }
        )
    )
    code, stdout, err = run(
        capsys,
        "train-reader",
        "--qa",
        str(qa),
        str(squad),
        "--store",
        store,
        "--out",
        str(tmp_path / "mixed"),
        "--epochs",
        "1",
        "--passages",
        "2",
        "--validation-fraction",
        "0.25",
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    data = json.loads(stdout)["data"]
    labelled = data["provenance"]["labelled"]
    assert "qa.jsonl: 6 questions, 5 (83.3%) with an answer" in labelled
    assert "written.json: 2 questions with gold spans" in labelled
    assert data["provenance"]["file"] == [str(qa.resolve()), str(squad.resolve())]
    assert data["examples"] == 5 + 2 - int(7 * 0.25)  # both files' questions, less the held-out share


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ('{"data": [{"title": "x"}]}', "not a SQuAD-format file"),
    ],
)
def test_train_reader_errors_are_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "qa.json"
    if content is not None:
        path.write_text(content)
    code, _, err = run(capsys, "train-reader", "--qa", str(path), "--store", str(tmp_path / "store"))
    assert code == 1 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_negative_cloze_count_is_one_error_line(tmp_path, capsys):
    qa = write_jsonl(tmp_path / "qa.jsonl", QUESTIONS)
    code, _, err = run(capsys, "train-reader", "--qa", str(qa), "--store", str(tmp_path / "store"), "--cloze", "-1")
    assert code == 1 and "--cloze must be 0 or more" in err and "Traceback" not in err
