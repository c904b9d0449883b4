"""The Gradio chat UI: chat with sources, documents upload and an evaluation tab, all offline.

Analytics are off, there are no share links, server-side rendering (a Node process) is off, and the
theme uses system fonts, so the page fetches nothing from the internet. A Content-Security-Policy keeps
it so: a planted image or script cannot load from elsewhere, nor the page send anything out.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from starlette.datastructures import MutableHeaders

from rag.config import Settings
from retrievers.environment import quiet_offline

from .backend import Backend
from .uploads import Limits

quiet_offline()  # before gradio is imported: no analytics

TITLE = "dpr-rag"
_FONTS = dict(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
# Only this server's own resources. Gradio's page needs inline scripts and styles (its config and theme).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI middleware that adds `SECURITY_HEADERS` to every HTTP response that does not set them itself."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                message["headers"] = headers.raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_ui(settings: Settings, backend: Backend | None = None) -> Any:
    """The Blocks app (mount it with `gradio.mount_gradio_app`, as `rag serve` does)."""
    import gradio as gr

    backend = backend or Backend(settings)
    known = backend.collections()
    default = settings.collection or ("wiki-vital" if "wiki-vital" in known else (known[0] if known else "default"))
    with gr.Blocks(title=TITLE, analytics_enabled=False) as ui:
        gr.Markdown(f"## {TITLE}: chat with your documents, answers cited from the retrieved passages")
        with gr.Tab("Chat"):
            collection = _chat_tab(gr, backend, settings, known, default)
        with gr.Tab("Documents"):
            _documents_tab(gr, backend, known, default, collection)
        with gr.Tab("Evaluate"):
            _evaluate_tab(gr, backend)
    return ui


def _chat_tab(gr: Any, backend: Backend, settings: Settings, known: list[str], default: str) -> Any:
    """The chat, its sources panel, the collection, filter and retrieval settings; returns the collection box."""
    with gr.Row():
        with gr.Column(scale=3):
            # Markdown with HTML sanitised and no custom tags kept; the backend escapes document text.
            chatbot = gr.Chatbot(
                label="Chat",
                height=460,
                elem_id="chat",
                buttons=["copy", "copy_all"],
                render_markdown=True,
                sanitize_html=True,
                allow_tags=False,
            )
            with gr.Row():
                question = gr.Textbox(placeholder="Ask a question…", show_label=False, scale=5, elem_id="question")
                send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
            clear = gr.Button("New chat", size="sm")
        with gr.Column(scale=2):
            collection = gr.Dropdown(
                choices=known or [default],
                value=default,
                label="Collection",
                allow_custom_value=True,
                elem_id="collection",
            )
            where = gr.Textbox(
                label="Only passages where",
                elem_id="where",
                max_lines=1,
                placeholder="source=docs/*, type=pdf, page<=3  (comma-separated, all must hold)",
            )
            with gr.Accordion("Settings", open=False):
                # "default": the server's settings, or the collection's tuned retrieval (`rag tune`)
                mode = gr.Radio(["default", "hybrid", "dense", "bm25"], value="default", label="Retriever")
                context_k = gr.Slider(1, 10, value=settings.context_k, step=1, label="Passages the LLM reads")
                fusion = gr.Radio(["default", "linear", "rrf", "rsf", "dbsf"], value="default", label="Fusion (hybrid)")
                model = gr.Dropdown(
                    choices=settings.llm_choices(),
                    value=settings.llm_choices()[0],
                    label="LLM (the operator's choices: RAG_ALLOWED_MODELS)",
                )
            sources = gr.Markdown("*Sources of the answer appear here.*", elem_id="sources", sanitize_html=True)

    inputs = [question, chatbot, collection, mode, context_k, fusion, model, where]
    for event in (question.submit, send.click):
        event(backend.respond, inputs, [chatbot, sources]).then(lambda: "", None, question)
    clear.click(lambda: ([], "*Sources of the answer appear here.*"), None, [chatbot, sources])
    return collection


def _documents_tab(gr: Any, backend: Backend, known: list[str], default: str, collection: Any) -> None:
    """Uploads into a collection, with metadata for filters; the chat's collection list follows."""
    files = gr.File(
        file_count="multiple",
        type="filepath",
        label=f"Files ({' '.join(sorted(Limits.from_settings(backend.settings).types))})",
    )
    target = gr.Dropdown(choices=known or [default], value=default, label="Add to collection", allow_custom_value=True)
    meta = gr.Textbox(
        label="Metadata for these files (one key=value per line, e.g. year=2024; filter on it in the chat)",
        lines=2,
        max_lines=8,
    )
    add = gr.Button("Ingest", variant="primary")
    result = gr.Markdown(sanitize_html=True)

    def ingest(paths: list[str] | None, name: str, pairs: str, progress: Any = gr.Progress()) -> tuple[str, Any, Any]:  # noqa: B008 (how Gradio injects a tracker)
        progress(0, desc=f"ingesting {len(paths or [])} files")
        text = backend.ingest_files(paths or [], name, meta=pairs)  # audited as "ui": any user name logs in
        names = backend.collections()
        return text, gr.Dropdown(choices=names), gr.Dropdown(choices=names)

    add.click(ingest, [files, target, meta], [result, collection, target])


def _evaluate_tab(gr: Any, backend: Backend) -> None:
    """`rag eval retrieval` on an uploaded dataset: its table and top-k plot."""
    reports = Path(tempfile.mkdtemp(prefix="rag-ui-eval-"))
    gr.Markdown(
        "Top-k retrieval accuracy (and recall, MRR, nDCG where the dataset has gold documents), "
        "as `rag eval retrieval` computes it."
    )
    dataset = gr.File(label="Dataset (NQ-open jsonl, SQuAD json, LlamaIndex json)", type="filepath")
    with gr.Row():
        fmt = gr.Dropdown(["auto", "nq-open", "squad", "llamaindex"], value="auto", label="Format")
        eval_collection = gr.Textbox(label="Collection (empty: the dataset's own documents)")
        modes = gr.CheckboxGroup(
            ["bm25", "dense", "hybrid-rrf", "hybrid-linear"], value=["bm25", "dense", "hybrid-rrf"], label="Retrievers"
        )
        ks = gr.Textbox(value="1,5,20", label="k")
    run = gr.Button("Evaluate", variant="primary")
    table = gr.Markdown(sanitize_html=True)
    plot = gr.Image(label="Top-k accuracy", type="filepath")

    def evaluate(path: str | None, f: str, c: str, m: list[str], k: str) -> tuple[str, str | None]:
        out = Path(tempfile.mkdtemp(dir=reports))
        return backend.evaluate(path, f, c.strip() or None, m, k, out)

    run.click(evaluate, [dataset, fmt, eval_collection, modes, ks], [table, plot])


def mount_ui(app: Any, settings: Settings, backend: Backend | None = None) -> Any:
    """Serve the UI at `/` of the API app, every response with `SECURITY_HEADERS`. With credentials (an API
    token, or keys from `rag keys`), the UI asks for a login: any user name, and as the password the token
    or a key that may read and ingest every collection (the UI does both)."""
    import gradio as gr

    from .credentials import Credentials

    credentials = getattr(app.state, "credentials", None) or Credentials(settings)
    auth = None
    if credentials.required():

        def auth(user: str, password: str) -> bool:
            who = credentials.authenticate(password)
            return who is not None and who.allows("read", "*") and who.allows("ingest", "*")

    guard = getattr(app.state, "guard", None)
    if guard is not None:
        guard.ui_open = auth is None  # keys added later close the UI until a restart brings the login
    app = gr.mount_gradio_app(
        app,
        build_ui(settings, backend),
        path="/",
        auth=auth,
        ssr_mode=False,
        run_history=False,
        theme=gr.themes.Default(**_FONTS),
        footer_links=[],
        show_error=True,
        max_file_size=int(settings.upload_max_mb * (1 << 20)),
    )
    app.add_middleware(SecurityHeaders)
    return app
