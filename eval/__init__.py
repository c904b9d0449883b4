"""Evaluation: retrieval (top-k accuracy, recall@k, MRR, nDCG) and answers (EM, F1, citations, support).

from eval import evaluate_retrievers, load_dataset
report = evaluate_retrievers(load_dataset("beir:scifact"), {"mine": my_llamaindex_retriever})
print(report.table())
"""

from retrievers.datasets import FORMATS, DatasetError, Document, EvalDataset, EvalQuestion, detect_format, load_dataset

from .answers import AnswerReport, Judge, Reply, evaluate_answers
from .metrics import (
    answer_contained,
    citation_accuracy,
    exact_match,
    lexical_support,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    token_f1,
)
from .nq_vital import Question, has_answer, normalize, read_nq_open, select, top_k_accuracy
from .report import write_answer_report, write_retrieval_report
from .retrieval import Hit, RetrievalReport, evaluate_retrieval, evaluate_retrievers, search_function

__all__ = [
    "AnswerReport",
    "DatasetError",
    "Document",
    "EvalDataset",
    "EvalQuestion",
    "FORMATS",
    "Hit",
    "Judge",
    "Question",
    "Reply",
    "RetrievalReport",
    "answer_contained",
    "citation_accuracy",
    "detect_format",
    "evaluate_answers",
    "evaluate_retrieval",
    "evaluate_retrievers",
    "exact_match",
    "has_answer",
    "lexical_support",
    "load_dataset",
    "mrr_at_k",
    "ndcg_at_k",
    "normalize",
    "read_nq_open",
    "recall_at_k",
    "search_function",
    "select",
    "token_f1",
    "top_k_accuracy",
    "write_answer_report",
    "write_retrieval_report",
]
