"""Jinja2 pages from the templates shipped in this package."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_env = Environment(
    loader=PackageLoader("qualityapi.web", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(name: str, **context: Any) -> tuple[str, str]:
    """The template ``name`` rendered with a fresh CSP nonce; (html, nonce). Each page's
    own headers (its Content-Security-Policy above all) stay with the page."""
    nonce = secrets.token_urlsafe(16)
    return _env.get_template(name).render(nonce=nonce, **context), nonce


def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page with headers that keep it private: not cached, not indexed, no referrer (its
    URL may hold a token), no scripts, and styles only from this response (a nonce)."""
    html, nonce = render(name, **context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex, nofollow",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; "
                "base-uri 'none'; frame-ancestors 'none'"
            ),
        },
    )
