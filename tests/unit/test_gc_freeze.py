"""``serve`` freezes what start-up made, so full collections under load do not walk it
(app.freeze_startup_objects); an app made inside another process (the tests') does not."""

from __future__ import annotations

import gc
from pathlib import Path

from mediastudio.app import create_app
from tests.conftest import make_settings


async def started_and_stopped(freeze_gc: bool, data_dir: Path) -> int:
    """The number of frozen objects while the app ran."""
    app = create_app(make_settings(data_dir), run_workers=False, freeze_gc=freeze_gc)
    async with app.router.lifespan_context(app):
        return gc.get_freeze_count()


async def test_serve_freezes_its_start_up_objects_and_an_embedded_app_does_not(
    tmp_path: Path,
) -> None:
    gc.unfreeze()
    try:
        assert await started_and_stopped(False, tmp_path / "plain") == 0
        frozen = await started_and_stopped(True, tmp_path / "served")
        # Everything alive after start-up: the modules, routes and schemas, far more than the app.
        assert frozen > 50_000
    finally:
        gc.unfreeze()
