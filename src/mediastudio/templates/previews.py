"""Template previews (seed 003's ``previewImageUrl``): a PNG of each template drawn with its own
defaults (every text slot's default, every image slot's placeholder colour, the template's
colours). A video template is drawn as it settles, every layer in its final place (the
animations' end state), at the canvas's size.

Each preview is rendered once, on first request, and kept under ``data_dir/template-previews``
named by the template's id and a hash of its content: an edited template gets a new file, and
an old one is never served for it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from mediastudio.engines.builtin.templates.render import RenderData, render_image
from mediastudio.engines.builtin.templates.spec import Template

FOLDER = "template-previews"


def content_hash(template: Template) -> str:
    """The template's content, hashed: what its cached preview is keyed by."""
    return hashlib.sha256(template.model_dump_json().encode()).hexdigest()[:16]


def preview_path(data_dir: Path, template: Template) -> Path:
    """The template's preview PNG, rendered now when not yet on disk."""
    folder = data_dir / FOLDER
    path = folder / f"{template.id}-{content_hash(template)}.png"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    image = render_image(template, RenderData(texts={}, images={}, colors={}))
    # Written aside and renamed: two first requests at once never serve half a file.
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            image.save(out, format="PNG", optimize=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
