"""Turning a viewer and a template into a page: the Jinja environment and its helpers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from services.api.dashboard import i18n
from services.api.dashboard.viewer import Viewer

HERE: Final = Path(__file__).parent
TEMPLATES: Final = HERE / "templates"
STATIC: Final = HERE / "static"


def duration(seconds: float | None) -> str:
    """``42s``, ``5m 3s``, ``2h 10m``, ``3d 4h``; an en dash for no value."""
    if seconds is None:
        return "–"
    s = round(seconds)
    for size, unit, next_size, next_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "m")):
        if s >= size:
            return f"{s // size}{unit} {s % size // next_size}{next_unit}"
    return f"{s // 60}m {s % 60}s" if s >= 60 else f"{s}s"


def percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.0f}%"


def iso(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ""


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # they ship in the package: read once, not stat'ed at every page
    )
    env.filters.update(duration=duration, percent=percent, iso=iso)
    return env


ENVIRONMENT: Final = _environment()


def page(viewer: Viewer, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The rendered page, in the viewer's language, with the session cookie kept fresh."""
    html = ENVIRONMENT.get_template(template).render(
        t=i18n.translator(viewer.lang),
        lang=viewer.lang,
        other_lang=i18n.other(viewer.lang),
        viewer=viewer,
        path=viewer.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    viewer.keep(response)
    return response
