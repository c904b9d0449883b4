import json

import numpy as np
import pytest

from retrievers import DPREncoder, RagError
from retrievers.answer_text import normalize
from retrievers.training import TrainConfig, TrainingExample, ValidationSet, read_training_record, train
from retrievers.training.model_dir import TRAINING_FILE
from retrievers.training.trainer import negatives_that_fit

FACTS = [
    ("Who designed the iron lattice tower in Paris?", "Gustave Eiffel designed the wrought-iron tower.", "Eiffel"),
    ("Which river flows north into the Mediterranean?", "The Nile flows north through Egypt to the sea.", "Nile"),
    ("What is the red planet?", "Mars looks red because of iron oxide dust.", "Mars"),
    ("What orbits Earth every 27 days?", "The Moon circles our planet in about four weeks.", "Moon"),
    ("Which animal is kept to catch mice?", "House cats hunt rodents in barns and homes.", "cats"),
    ("Who wrote On the Origin of Species?", "Charles Darwin published his theory of evolution.", "Darwin"),
    ("Which metal is liquid at room temperature?", "Mercury stays fluid at ordinary temperatures.", "Mercury"),
    ("What gas do plants take in?", "Leaves absorb carbon dioxide for photosynthesis.", "carbon dioxide"),
]


TOPICS = [
    "football results",
    "a bread recipe",
    "train timetables",
    "knitting patterns",
    "tax forms",
    "guitar chords",
    "garden hoses",
    "office chairs",
]


def examples(n_negatives: int = 1) -> list[TrainingExample]:
    out = []
    for i, (q, p, a) in enumerate(FACTS):
        # Distinct texts: the no-duplicates batch sampler refuses batches where a text repeats.
        negatives = [f"A note about {TOPICS[(i + j) % len(TOPICS)]}, number {i}.{j}." for j in range(n_negatives)]
        out.append(TrainingExample(q, p, negatives, [normalize(a)]))
    return out


def validation() -> ValidationSet:
    return ValidationSet(
        [q for q, _, _ in FACTS],
        [[normalize(a)] for _, _, a in FACTS],
        [p for _, p, _ in FACTS],
        [p for _, p, _ in FACTS],
    )


def config(**kw) -> TrainConfig:
    # A high learning rate so a handful of steps visibly moves the loss.
    return TrainConfig(**{"epochs": 3, "batch_size": 4, "learning_rate": 1e-4, "patience": 0, "seed": 7, **kw})


@pytest.mark.slow
def test_training_lowers_the_loss_and_saves_a_model_that_loads(tmp_path):
    out = tmp_path / "model"
    result = train(examples(), out, config(), validation=validation(), progress=False, provenance={"file": "facts"})
    first, last = result.train_loss[0][1], result.train_loss[-1][1]
    assert result.steps == 6 and last < first * 0.8, result.train_loss
    record = read_training_record(out)
    assert record["encoders"] == "shared" and record["base_model"] == "all-MiniLM-L6-v2"
    assert record["config"]["batch_size"] == 4 and record["data"]["file"] == "facts"
    assert record["data"]["training_examples"] == len(FACTS) and len(record["validation"]["history"]) == 3
    assert record["validation"]["final_model"]["mrr@20"] >= record["validation"]["before"]["mrr@20"]
    assert not (out / "checkpoints").exists()
    encoder = DPREncoder(out)
    assert encoder.dimension == 384 and encoder.name == str(out.resolve())
    base = DPREncoder()
    passage = [FACTS[0][1]]
    assert not np.allclose(encoder.encode_passage(passage), base.encode_passage(passage), atol=1e-4)


@pytest.mark.slow
def test_separate_encoders_give_two_towers_and_cached_loss_trains_too(tmp_path):
    out = tmp_path / "two"
    result = train(
        examples(2), out, config(separate_encoders=True, mini_batch_size=2, hard_negatives=2), progress=False
    )
    assert result.record["encoders"] == "separate"
    assert result.record["loss"] == "CachedMultipleNegativesRankingLoss"
    assert (out / "router_config.json").is_file()
    encoder = DPREncoder(out)
    text = ["the same words on both sides"]
    # The towers started equal and were trained on different inputs, so they now differ.
    assert not np.allclose(encoder.encode_query(text), encoder.encode_passage(text), atol=1e-4)
    q = encoder.encode_query([FACTS[1][0]])
    scores = (q @ encoder.encode_passage([p for _, p, _ in FACTS]).T)[0]
    assert int(np.argmax(scores)) == 1


@pytest.mark.slow
def test_an_existing_directory_is_refused_and_an_interrupted_run_resumes(tmp_path):
    from transformers import TrainerCallback

    out = tmp_path / "model"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RagError, match="exists and is not empty"):
        train(examples(), out, config(), progress=False)
    with pytest.raises(RagError, match="does not look like a model directory"):
        train(examples(), out, config(), progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(examples(), run, config(), validation=validation(), progress=False, callbacks=[Crash()])
    assert not (run / TRAINING_FILE).exists()  # an unfinished run is never mistaken for a model
    with pytest.raises(RagError, match="--resume"):
        train(examples(), run, config(), progress=False)
    with pytest.raises(RagError, match="different settings .*learning_rate"):
        train(examples(), run, config(learning_rate=3e-5), progress=False, resume=True)
    result = train(examples(), run, config(), validation=validation(), progress=False, resume=True)
    assert result.resumed_from.endswith("checkpoint-2") and result.steps == 6
    assert [row["step"] for row in result.validation] == [2, 4, 6]  # the evaluation before the crash is kept
    assert json.loads((run / TRAINING_FILE).read_text())["resumed_from"].endswith("checkpoint-2")
    with pytest.raises(RagError, match="no interrupted training run"):
        train(examples(), run, config(), progress=False, resume=True)


def test_bad_hyper_parameters_are_refused_before_any_work(tmp_path):
    with pytest.raises(RagError, match="batch-size must be at least 2"):
        train(examples(), tmp_path / "m", config(batch_size=1))
    with pytest.raises(RagError, match="epochs must be at least 1"):
        train(examples(), tmp_path / "m", config(epochs=0))
    with pytest.raises(RagError, match="training needs at least 2"):
        train(examples()[:1], tmp_path / "m", config())
    assert not (tmp_path / "m").exists()


def test_negatives_are_cut_only_when_no_duplicate_free_batch_could_form():
    # Five passages shared by all questions: with two negatives each example holds three of the five,
    # so no two examples fit one batch without a repeat; with one negative some pairs do.
    passages = [f"passage {i}" for i in range(5)]
    tiny = [
        TrainingExample(f"question {i}", passages[i], [passages[(i + 1) % 5], passages[(i + 2) % 5]], ["x"])
        for i in range(5)
    ]
    assert negatives_that_fit(tiny, batch_size=2, hard_negatives=2) == 1
    assert negatives_that_fit(tiny, batch_size=3, hard_negatives=2) == 0  # one negative: 3 rows need 6 of 5 passages
    assert negatives_that_fit(examples(3), batch_size=4, hard_negatives=3) == 3  # distinct texts: nothing cut


@pytest.mark.slow
def test_lora_training_saves_a_small_delta_whose_merge_is_the_saved_model(tmp_path):
    from safetensors.torch import load_file

    from retrievers.encoders.lora import ADAPTER_FILE, load_delta, merge_lora
    from retrievers.training.trainer import build_model

    out = tmp_path / "lora"
    result = train(examples(), out, config(lora_rank=4, learning_rate=1e-3), validation=validation(), progress=False)
    first, last = result.train_loss[0][1], result.train_loss[-1][1]
    assert last < first * 0.9, result.train_loss
    record = read_training_record(out)
    assert record["lora"]["rank"] == 4
    assert (out / ADAPTER_FILE).stat().st_size < 1_000_000  # the delta, not the 90 MB model
    best = max(record["validation"]["history"], key=lambda row: row["mrr@20"])
    assert record["validation"]["final_model"]["mrr@20"] == pytest.approx(best["mrr@20"], abs=1e-6)
    # The base model plus the saved delta is exactly the saved full model (what a shipped delta loads as).
    state, spec = load_delta(out)
    rebuilt = build_model(TrainConfig())
    merge_lora(rebuilt[0].auto_model, state, spec)
    saved = load_file(str(out / "model.safetensors"))
    mine = rebuilt[0].auto_model.state_dict()
    changed = [k for k in saved if not np.allclose(saved[k].numpy(), mine[k].numpy(), atol=1e-6)]
    assert not changed, changed[:3]
    base = build_model(TrainConfig())[0].auto_model.state_dict()
    assert not np.allclose(
        base["encoder.layer.0.attention.self.query.weight"].numpy(),
        mine["encoder.layer.0.attention.self.query.weight"].numpy(),
    )


def test_lora_cannot_resume_or_train_two_towers(tmp_path):
    with pytest.raises(RagError, match="separate"):
        train(examples(), tmp_path / "m", config(lora_rank=4, separate_encoders=True))
    with pytest.raises(RagError, match="resume"):
        train(examples(), tmp_path / "m", config(lora_rank=4), resume=True)
