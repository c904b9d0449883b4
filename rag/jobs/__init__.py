"""The long jobs behind `rag train`, `rag train-reader`, `rag train-reranker` and `rag generate-questions`:
each reads its data, trains or generates through `retrievers/` or the LLM, and writes a model or a file
with a record of how it was made. Imported by the command that runs them (they load training stacks).

    options.py              each job's typed options (`DPRJob`, `ReaderJob`, `RerankerJob`), the flags' defaults
    training.py             the DPR encoder: mined examples, `retrievers.training.train`
    reader_training.py      the reader: distant-supervision labels, optional cloze pretraining
    reranker_training.py    a cross-encoder reranker on mined pairs
    question_generation.py  an LLM writes questions for a collection's passages (a pair file)
"""
