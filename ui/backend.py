"""What the chat UI's buttons do, as plain functions over the settings (tested without a browser).

Gradio only wires these to components (`ui/app.py`); each returns plain values: chat messages as
`{"role", "content"}` dicts, Markdown text, file paths. Text from documents or the model is escaped
(`rag.answer.presentation`) before it becomes Markdown, so that a planted image or link cannot fetch or send anything.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from rag.access import AuditLog
from rag.answer import Engine, GenerationFailed
from rag.answer.presentation import escape_markdown, inert_markdown
from rag.assembly import build_engine
from rag.config import Settings
from retrievers.errors import RagError
from retrievers.filters import Filters, parse_where
from retrievers.stores import list_collections

from .engines import Engines
from .uploads import UploadRejected, upload_and_ingest

EngineFactory = Callable[[Settings, str], Engine]


def message_text(content: Any) -> str:
    """A chat message's text, whether Gradio gives it as a string or as a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, (list, tuple)):
        return "".join(message_text(part) for part in content)
    return ""


REFUSED_MARK = "\n\n*(not answered: the retrieved passages do not hold an answer)*"


def short_answer_markdown(answer: Any) -> str:
    """The reader's short answer (or the generated answer snapped to a span) with its passage, the span in bold."""
    lines = []
    for label, short in (
        ("Short answer", getattr(answer, "short_answer", None)),
        ("In the passage", getattr(answer, "grounded", None)),
    ):
        if short is not None:
            quote = _highlight(short.to_dict()["highlight"], short.text)
            lines.append(f"**{label}: {escape_markdown(short.text)}** [{short.source}]\n\n> {quote}")
    return "\n\n".join(lines) + ("\n\n---\n\n" if lines else "")


def _highlight(highlight: str, span: str) -> str:
    """The passage around a span (`**span**` inside, as `ShortAnswer.to_dict` gives) escaped, the span still bold."""
    before, _, after = highlight.partition(f"**{span}**")
    left = escape_markdown(before) + (" " if before[-1:].isspace() else "")
    right = (" " if after[:1].isspace() else "") + escape_markdown(after)
    return f"{left}**{escape_markdown(span)}**{right}"


def _code(name: str) -> str:
    """A file name as inline code, or escaped when a backtick in it would end the code span."""
    return f"`{name}`" if "`" not in name and "\n" not in name else escape_markdown(name)


def sources_markdown(sources: Sequence[Any], answer: Any = None) -> str:
    """The cited passages as a Markdown list: number, title, source, score and the start of the text,
    after the short answer when there is one."""
    head = short_answer_markdown(answer) if answer is not None else ""
    if not sources:
        return head + "*No passages cited.*"
    lines = []
    for s in sources:
        p = s.passage
        where = f" — *{escape_markdown(Path(p.source).name)}*" if p.source and p.source != p.title else ""
        where += f", {escape_markdown(p.location)}" if p.location else ""
        snippet = escape_markdown(" ".join(p.text.split())[:280])
        name = escape_markdown(p.title or Path(p.source).name or p.id)
        lines.append(f"**[{s.n}] {name}**{where} · score {s.score:.3f}\n\n> {snippet}")
    return head + "\n\n".join(lines)


def filter_box(text: str | None) -> Filters:
    """The filter box's text as filters: `--where` expressions separated by commas ("source=docs/*, page<=3"); a
    comma inside a value is written `\\,`."""
    parts = [p.replace("\\,", ",").strip() for p in re.split(r"(?<!\\),", text or "")]
    return parse_where([p for p in parts if p])


class Backend:
    """The UI's actions over the answer engines (shared with the API when `engines` is given)."""

    def __init__(
        self,
        settings: Settings,
        factory: EngineFactory = build_engine,
        *,
        engines: Engines | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.settings = settings
        self.engines = engines if engines is not None else Engines(settings, factory)
        self._audit = audit  # the server's; else the store's, opened at the first entry

    def _record(self, actor: str, action: str, target: str, detail: str = "") -> None:
        if self._audit is None:
            self._audit = AuditLog(self.settings.store)
        self._audit.record(actor, action, target, detail)

    def collections(self) -> list[str]:
        return list_collections(self.settings.store)

    def engine(self, collection: str, **options: Any) -> Engine:
        """The engine for the collection with the settings panel's choices (unset ones keep the server's)."""
        return self.engines.get(collection, **{k: v for k, v in options.items() if v not in (None, "", "default")})

    def respond(
        self,
        message: str,
        history: list[dict],
        collection: str,
        mode: str | None = None,
        context_k: int | None = None,
        fusion: str | None = None,
        model: str | None = None,
        where: str | None = None,
    ) -> Iterator[tuple[list[dict], str]]:
        """Stream an answer: yields the chat so far (the answer growing) and the sources panel. `where` is the
        filter box: comma-separated `--where` expressions."""
        question = (message or "").strip()
        if not question:
            yield history, ""
            return
        past = [
            {"role": m["role"], "content": message_text(m.get("content"))}
            for m in history
            if m.get("role") in ("user", "assistant")
        ]
        chat = [*history, {"role": "user", "content": question}, {"role": "assistant", "content": ""}]
        try:
            engine = self.engine(
                collection, mode=mode, context_k=int(context_k) if context_k else None, fusion=fusion, model=model
            )
            stream = engine.stream(question, past, filter_box(where))
            text = ""
            for piece in stream:
                text += piece
                chat[-1] = {"role": "assistant", "content": inert_markdown(text)}
                yield chat, "*Retrieving and answering…*"
            answer = stream.finish()
        except RagError as exc:
            chat[-1] = {"role": "assistant", "content": f"⚠️ {inert_markdown(str(exc))}"}
            yield chat, sources_markdown(exc.sources, exc) if isinstance(exc, GenerationFailed) else ""
            return
        text = inert_markdown(answer.answer) + (REFUSED_MARK if answer.refused else "")
        chat[-1] = {"role": "assistant", "content": text}
        yield chat, sources_markdown(answer.cited or answer.sources, answer)

    def ingest_files(self, paths: Sequence[str], collection: str, actor: str = "ui", meta: str = "") -> str:
        """Upload the chosen files to the collection and ingest them (`ui.uploads.upload_and_ingest`, as the
        API does); one Markdown line per file. `actor` names the user in the audit log; `meta` is one
        `key=value` per line, given to every passage of the upload."""
        name = (collection or "").strip() or "default"
        if not paths:
            return "Choose files to add first."
        try:
            opened = [(Path(p).name, open(p, "rb")) for p in paths]
            try:
                done = upload_and_ingest(
                    self.settings,
                    opened,
                    name,
                    engines=self.engines,
                    record=self._record,
                    actor=actor,
                    meta=(meta or "").splitlines(),
                )
            finally:
                for _, fh in opened:
                    fh.close()
        except (UploadRejected, OSError, RagError) as exc:  # RagError: the collection's own (encoder, lock)
            return f"⚠️ Nothing added: {escape_markdown(str(exc))}"
        reasons = dict(done.report.failed)
        lines = []
        for path, status, passages in done.report.per_file:
            shown = _code(Path(path).name)
            if status == "failed":
                lines.append(f"- ⚠️ {shown}: {escape_markdown(str(reasons.get(path, 'not read')))}")
            elif status == "unchanged":
                lines.append(f"- {shown}: unchanged")
            else:
                lines.append(f"- ✅ {shown}: {passages} passages indexed")
        summary = f"{done.report.added} passages added, {done.report.removed} removed"
        return f"**Collection `{done.collection}`**: {summary}\n\n" + "\n".join(lines)

    def evaluate(
        self, dataset_path: str | None, fmt: str, collection: str | None, modes: Sequence[str], ks: str, out_dir: Path
    ) -> tuple[str, str | None]:
        """`rag eval retrieval` on an uploaded dataset: the Markdown table and the top-k plot's path."""
        from eval.report import TOPK_PLOT, write_retrieval_report
        from eval.retrieval import evaluate_retrieval

        if not dataset_path:
            return "Upload a dataset file first.", None
        try:
            k_values = sorted({int(k) for k in ks.split(",") if k.strip()})
            spec = f"{fmt}:{dataset_path}" if fmt and fmt != "auto" else dataset_path
            report = evaluate_retrieval(
                self.settings, spec, collection or None, modes=list(modes) or ["bm25"], ks=k_values or [1, 5, 20]
            )
        except ValueError:
            return f"⚠️ k must be comma-separated whole numbers, not {ks!r}", None
        except RagError as exc:
            return f"⚠️ {exc}", None
        write_retrieval_report(report, out_dir)
        plot = out_dir / TOPK_PLOT
        return report.table(), str(plot) if plot.is_file() else None
