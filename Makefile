# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(if $(filter 0,$(shell id -u)),,sudo -n)
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install run lint test test-fast bench bench-large bench-dpr models clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@command -v tesseract >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq tesseract-ocr; } >/dev/null 2>&1 || \
		echo "note: OCR of scans and images needs Debian's tesseract-ocr: sudo apt-get install tesseract-ocr" >&2
	touch $(STAMP)

# Ingest the built-in corpus (incremental: only the first run encodes), then serve the chat UI and API
# on http://127.0.0.1:7860 with the embedded LLM.
run: install
	$(BIN)/rag ingest wiki-vital
	$(BIN)/rag serve --collection wiki-vital

# ruff's lint rules and format, and the import-linter contracts (the layers: pyproject.toml), before the suite.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Speed, memory and disk (README, "Performance"): 1k and 10k passages, torch fp32 vs ONNX int8, against
# the stock LlamaIndex pipeline, with top-20 on the nq-vital questions. bench-large adds 100k passages.
BENCH_ARGS ?=
bench: install
	$(BIN)/rag bench --qa $(NQ)/NQ-open.efficientqa.dev.1.1.jsonl --out docs/bench/bench.json $(BENCH_ARGS)
bench-large: install
	$(BIN)/rag bench --sizes 10033 --large --backends onnx-int8 --out docs/bench/bench-large.json $(BENCH_ARGS)

# DPR fine-tuning on nq-vital (README, "Fine-tuning the retriever"): train on NQ-open dev, report
# top-k accuracy on the EfficientQA dev questions for BM25, the base encoder and both fine-tuned ones.
NQ ?= ../shared/data/nq-open
TRAIN_ARGS ?=
REPORT ?= docs/nq-vital
bench-dpr: install
	$(BIN)/rag ingest wiki-vital --no-progress
	$(BIN)/rag train --qa $(NQ)/NQ-open.dev.jsonl -c wiki-vital --out models/dpr-nq --overwrite $(TRAIN_ARGS)
	$(BIN)/rag train --qa $(NQ)/NQ-open.dev.jsonl -c wiki-vital --out models/dpr-nq-separate --separate-encoders \
		--overwrite $(TRAIN_ARGS)
	$(BIN)/rag eval retrieval --dataset nq-open:$(NQ)/NQ-open.efficientqa.dev.1.1.jsonl -c wiki-vital \
		--encoder all-MiniLM-L6-v2 models/dpr-nq models/dpr-nq-separate --report $(REPORT)

# Retrain the shipped models (docs/training.md, "The shipped models") from ../shared data with the project's
# own commands, in a store of their own, and package their LoRA deltas into retrievers/models/ with a record
# (recipe, data, validation figures, commit, sha256). About 2.5 hours on 2 cores. Vectors are fp32 (torch) here, as
# when the shipped models were trained: the mined negatives and validation figures are then reproducible.
MODELS_STORE ?= build/models-store
# dpr-nq is the uniform soup (mean delta) of two runs that differ only in learning rate (docs/experiments/dpr-soup).
DPR_RECIPE = rag train --qa $(NQ)/NQ-open.dev.jsonl -c wiki-vital --lora-rank 16 --learning-rate 1e-3 \
	--out build/models/dpr-nq-lr1e-3 --overwrite
DPR_RECIPE_2 = rag train --qa $(NQ)/NQ-open.dev.jsonl -c wiki-vital --lora-rank 16 --learning-rate 5e-4 --epochs 6 \
	--out build/models/dpr-nq-lr5e-4 --overwrite
SQUAD_TRAIN = build/vital-squad-train
READER_RECIPE = rag train-reader --qa $(NQ)/NQ-open.dev.jsonl $(SQUAD_TRAIN)/train.json -c wiki-vital --depth 50 \
	--passages 1 --seeds 1 --lora-rank 16 --learning-rate 1e-3 --validation $(SQUAD_TRAIN)/validation.json \
	--out build/models/reader-nq --overwrite
models: install
	RAG_STORE=$(MODELS_STORE) RAG_BACKEND=torch $(BIN)/rag ingest wiki-vital --encoder all-MiniLM-L6-v2 --no-progress
	RAG_STORE=$(MODELS_STORE) RAG_BACKEND=torch $(BIN)/$(DPR_RECIPE) --no-progress
	RAG_STORE=$(MODELS_STORE) RAG_BACKEND=torch $(BIN)/$(DPR_RECIPE_2) --no-progress
	$(BIN)/rag package-model build/models/dpr-nq-lr1e-3 build/models/dpr-nq-lr5e-4 --name dpr-nq \
		--recipe "$(DPR_RECIPE); $(DPR_RECIPE_2)"
	$(BIN)/python docs/experiments/squad-train/build.py --out $(SQUAD_TRAIN)
	RAG_STORE=$(MODELS_STORE) RAG_BACKEND=torch $(BIN)/$(READER_RECIPE) --no-progress
	$(BIN)/rag package-model build/models/reader-nq --name reader-nq --recipe "$(READER_RECIPE)"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
