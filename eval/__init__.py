"""Evaluation of retrieval recall and answer quality; filled by the evaluation issue."""
