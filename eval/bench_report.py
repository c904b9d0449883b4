"""What `rag bench` reports: every run's figures, the headline summary, and the Markdown table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

MODES = ("bm25", "dense", "hybrid")
LARGE_SIZE = 100_000  # `rag bench --large`: repeats of the built-in corpus, perturbed


@dataclass
class BenchReport:
    options: dict
    runs: list[dict] = field(default_factory=list)  # one per (size, backend, pipeline)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The headline figures: the fastest backend on the largest sample of the built-in corpus."""
        ours = [r for r in self.runs if r["pipeline"] == "ours"]
        if not ours:
            return {}
        size = headline_size([r["passages"] for r in ours])
        at_size = [r for r in ours if r["passages"] == size]
        best = min(at_size, key=lambda r: r["query_ms"]["hybrid"]["p50"])
        fp32 = next((r for r in at_size if r["backend"] == "torch"), None)
        out: dict[str, Any] = {
            "passages": size,
            "backend": best["backend"],
            "ingest_passages_per_s": best["ingest"]["passages_per_s"],
            "ingest_passages_per_s_by_backend": {r["backend"]: r["ingest"]["passages_per_s"] for r in at_size},
            "query_p50_ms": {m: best["query_ms"][m]["p50"] for m in MODES},
            "query_p95_ms": {m: best["query_ms"][m]["p95"] for m in MODES},
            "peak_rss_mb": best["peak_rss_mb"],
            "store_mb": best["store_mb"],
        }
        if fp32 is not None and fp32 is not best:
            out["ingest_speedup_vs_torch_fp32"] = round(
                best["ingest"]["passages_per_s"] / fp32["ingest"]["passages_per_s"], 2
            )
            out["encode_speedup_vs_torch_fp32"] = round(
                fp32["ingest"]["steps_s"]["encode"] / max(1e-9, best["ingest"]["steps_s"]["encode"]), 2
            )
        if "filtered" in best:
            p50 = best["filtered"]["query_ms"]["p50"]
            out["filtered_hybrid"] = {
                "filter": best["filtered"]["filter"],
                "matching": best["filtered"]["matching"],
                "p50_ms": p50,
                "ratio": round(p50 / best["query_ms"]["hybrid"]["p50"], 2),
            }
        if "answers" in best:
            out.update({f"answer_{k}": v for k, v in best["answers"].items()})
        base = next((r for r in self.runs if r["pipeline"] == "llamaindex" and r["passages"] == size), None)
        if base is not None:
            ours_p50 = best["query_ms"]["hybrid"]["p50"]
            out["llamaindex_query_p50_ms"] = base["query_ms"]["hybrid"]["p50"]
            out["llamaindex_query_p50_ms_by_mode"] = {m: base["query_ms"][m]["p50"] for m in MODES}
            out["speedup_vs_llamaindex"] = round(base["query_ms"]["hybrid"]["p50"] / ours_p50, 2)
            if "same_encoder" in base:
                same = base["same_encoder"]["query_ms"]["hybrid"]["p50"]
                out["llamaindex_same_encoder_query_p50_ms"] = same
                out["speedup_vs_llamaindex_same_encoder"] = round(same / ours_p50, 2)
        if "top20" in best:
            out["top20"] = {
                "ours": best["top20"],
                **({"llamaindex": base["top20"]} if base and "top20" in base else {}),
            }
            out["top20_by_backend"] = {r["backend"]: r["top20"] for r in at_size if "top20" in r}
        large = [r for r in ours if r["backend"] == best["backend"] and r["passages"] > size]
        if large:
            biggest = max(large, key=lambda r: r["passages"])
            out["scaling"] = {
                "passages": biggest["passages"],
                "query_p50_ms": {m: biggest["query_ms"][m]["p50"] for m in MODES},
                "latency_ratio": {
                    m: round(biggest["query_ms"][m]["p50"] / best["query_ms"][m]["p50"], 2) for m in MODES
                },
            }
        return out

    def to_dict(self) -> dict:
        return {**self.summary(), "options": self.options, "runs": self.runs, "notes": self.notes}

    def table(self) -> str:
        features = ", ".join(self.options.get("cpu_features") or []) or "none of AVX2, AVX-512, VNNI, BF16, AMX"
        lines = [
            f"machine: {self.options.get('cpu', '?')}, {self.options.get('cpus', '?')} cores ({features})",
            f"{'pipeline':<11} {'backend':<10} {'passages':>8} {'ingest p/s':>10} {'encode s':>9} {'chroma s':>8} "
            f"{'bm25 s':>7} "
            + " ".join(f"{m + ' p50/p95/p99 ms':>22}" for m in MODES)
            + f" {'top20':>6} {'RSS MB':>7} {'disk MB':>7}",
        ]
        for r in self.runs:
            steps = r.get("ingest", {}).get("steps_s", {})
            ingest = r.get("ingest", {})
            lat = " ".join(f"{_triple(r['query_ms'][m]):>22}" for m in MODES)
            lines.append(
                f"{r['pipeline']:<11} {r['backend']:<10} {r['passages']:>8} {_num(ingest.get('passages_per_s')):>10} "
                f"{_num(steps.get('encode')):>9} {_num(steps.get('store')):>8} {_num(steps.get('bm25')):>7} {lat} "
                f"{_num(r.get('top20')):>6} {_num(r.get('peak_rss_mb')):>7} {_num(r.get('store_mb')):>7}"
            )
        summary = self.summary()
        lines.append("")
        if "answer_ttft_ms" in summary:
            useful = "the reader's lead" if summary.get("answer_lead") else "the LLM's first token"
            lines.append(
                f"answer path ({summary['backend']}, {summary.get('answer_model')}), medians from the question: "
                f"first useful token {summary.get('answer_first_useful_ms')} ms ({useful}), the LLM's first token "
                f"{summary['answer_ttft_ms']} ms ({summary.get('answer_prompt_tokens')} prompt tokens), whole answer "
                f"{summary.get('answer_answer_ms')} ms, {summary['answer_tokens_per_s']} tokens/s over the whole "
                "generation"
            )
        if "ingest_speedup_vs_torch_fp32" in summary:
            lines.append(
                f"ingest {summary['backend']} vs torch fp32: {summary['ingest_speedup_vs_torch_fp32']}x "
                f"(encoding alone {summary['encode_speedup_vs_torch_fp32']}x)"
            )
        if "speedup_vs_llamaindex" in summary:
            lines.append(
                f"hybrid p50 vs stock LlamaIndex ({summary['passages']} passages): "
                f"{summary['query_p50_ms']['hybrid']} ms vs {summary['llamaindex_query_p50_ms']} ms, "
                f"{summary['speedup_vs_llamaindex']}x"
            )
        if "speedup_vs_llamaindex_same_encoder" in summary:
            lines.append(
                f"  with our {summary['backend']} encoder inside LlamaIndex too: "
                f"{summary['llamaindex_same_encoder_query_p50_ms']} ms, "
                f"{summary['speedup_vs_llamaindex_same_encoder']}x"
            )
        if "filtered_hybrid" in summary:
            f = summary["filtered_hybrid"]
            lines.append(
                f"hybrid p50 filtered by {f['filter']!r} ({f['matching']} of {summary['passages']} passages): "
                f"{f['p50_ms']} ms, {f['ratio']}x the unfiltered"
            )
        if "top20" in summary:
            lines.append("top-20 on nq-vital: " + ", ".join(f"{k} {v}" for k, v in summary["top20"].items()))
        if "scaling" in summary:
            s = summary["scaling"]
            lines.append(
                f"latency at {s['passages']} vs {summary['passages']} passages: "
                + ", ".join(f"{m} {s['latency_ratio'][m]}x" for m in MODES)
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def headline_size(sizes: Sequence[int]) -> int:
    within = [s for s in sizes if s <= LARGE_SIZE // 2]
    return max(within or sizes)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _triple(stats: dict) -> str:
    return f"{stats['p50']:.1f}/{stats['p95']:.1f}/{stats['p99']:.1f}"
