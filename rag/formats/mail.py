"""E-mail messages (.eml): the subject as the title, the plain-text body (or the HTML one's visible text),
and the sender and date as metadata. Attachments are not read; a warning counts them."""

from __future__ import annotations

import email
import email.policy
from email.errors import MessageError
from pathlib import Path

from .base import NO_LIMITS, LoadError, Parsed, ReadLimits, Unit, one_line
from .html import html_text


def read_eml(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
        if body is not None and body.get_content_type() == "text/html":
            text = html_text(text)
        attachments = sum(1 for _ in message.iter_attachments())
        subject = one_line(str(message.get("subject") or "")) or path.stem
        meta = {key: one_line(str(message.get(key) or "")) for key in ("from", "date") if message.get(key)}
    except (MessageError, LookupError, ValueError, TypeError, AttributeError, UnicodeError) as exc:
        raise LoadError(f"not a readable e-mail ({type(exc).__name__}: {str(exc)[:120]})") from None
    warnings = [f"{attachments} attachment(s) not read: save them and ingest them as files"] if attachments else []
    return Parsed([Unit(subject, text, meta)] if isinstance(text, str) else [], warnings)
