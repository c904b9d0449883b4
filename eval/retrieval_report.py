"""The report of a retrieval evaluation: one row per retriever (top-k accuracy, and recall/MRR/nDCG when the
collection has the gold documents), the per-question records, and the Markdown table `rag eval` prints."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RetrievalReport:
    """What `evaluate_retrieval` and `evaluate_retrievers` return; `table()` is what `rag eval retrieval` prints."""

    dataset: str
    collection: str
    questions_read: int
    questions: int
    ks: list[int]
    rows: list[dict] = field(default_factory=list)
    details: list[dict] = field(default_factory=list)  # one record per question and retriever
    warnings: list[str] = field(default_factory=list)
    format: str = "nq-open"

    @property
    def results(self) -> dict[str, dict[str, float]]:
        return {row["retriever"]: {k: v for k, v in row.items() if k not in _ROW_FACTS} for row in self.rows}

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "format": self.format,
            "collection": self.collection,
            "questions_read": self.questions_read,
            "n_questions": self.questions,
            "ks": self.ks,
            "results": self.results,
            "rows": self.rows,
            "warnings": self.warnings,
        }

    def metric_names(self) -> list[str]:
        names: list[str] = []
        for row in self.rows:
            names += [k for k in row if k not in _ROW_FACTS and k != "ms_per_question" and k not in names]
        return names

    def table(self) -> str:
        names = self.metric_names()
        lines = [
            f"{self.questions} of {self.questions_read} questions ({self.dataset}) over {self.collection}",
            "| retriever | " + " | ".join(_heading(n) for n in names) + " | ms/q |",
            "|---|" + "---|" * (len(names) + 1),
        ]
        for row in self.rows:
            cells = [f"{row[n]:.1f}" if n in row else "" for n in names]
            lines.append(f"| {row['retriever']} | " + " | ".join(cells) + f" | {row['ms_per_question']:.0f} |")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


_ROW_FACTS = ("retriever", "mode", "fusion", "model", "collection")


def _heading(metric: str) -> str:
    return f"top-{metric[3:]}" if metric.startswith("top") else metric
