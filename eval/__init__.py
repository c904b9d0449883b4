"""Evaluation of retrieval: DPR's top-k accuracy by answer match (more metrics: the evaluation issue)."""

from .nq_vital import Question, has_answer, normalize, read_nq_open, select, top_k_accuracy

__all__ = ["Question", "has_answer", "normalize", "read_nq_open", "select", "top_k_accuracy"]
