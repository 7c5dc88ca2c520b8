"""The template files the product renders, carried inside the package.

They live in the repository's top-level ``templates/`` folder, which ``pyproject.toml``
maps into the package as ``orchestrator.templates``: an installed wheel reads them from
its own ``site-packages``, a checkout from the folder (its editable install maps it).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


def _directory() -> Path:
    location = importlib.resources.files("orchestrator.templates")
    # A wheel installed by pip is unpacked: the templates are a directory on disk.
    if not isinstance(location, Path):
        raise RuntimeError(f"the package's templates are not a directory: {location}")
    return location


TEMPLATES = _directory()


def templates_environment(finalize: Callable[[Any], Any] | None = None) -> jinja2.Environment:
    """The jinja2 environment over the package's templates.

    Values are HTML-escaped in ``.html`` templates; a ``finalize`` quotes them itself
    (for another language than HTML) and turns that escaping off.
    """
    # jinja2 loads when a template is first rendered, not with the task list.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False if finalize else jinja2.select_autoescape(["html", "html.j2"]),
        finalize=finalize,
    )
