"""Operators' template files: loaded beside the built-ins, and a broken one refused at start
with its path and the failing field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mediastudio.engines.builtin.templates.spec import TemplateError, load_library
from tests.conftest import auth, make_settings, open_api


def badge(**changes: Any) -> dict[str, Any]:
    template: dict[str, Any] = {
        "id": "team-badge",
        "name": "Team badge",
        "type": "image",
        "category": "internal",
        "tags": ["badge"],
        "canvas": {"width": 400, "height": 200, "background": "$background"},
        "colors": {"background": "#102030"},
        "layers": [
            {
                "kind": "text",
                "slot": "name",
                "box": [20, 20, 360, 160],
                "required": True,
                "color": "#ffcc00",
                "font_size": 60,
                "align": "center",
                "valign": "middle",
            }
        ],
    }
    template.update(changes)
    return template


def write(directory: Path, template: dict[str, Any], name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name or template['id']}.json"
    path.write_text(json.dumps(template))
    return path


async def test_an_operator_template_is_listed_and_rendered(tmp_path: Path) -> None:
    write(tmp_path / "mine", badge())
    settings = make_settings(
        tmp_path / "data", disabled_engines=[], templates_dir=tmp_path / "mine"
    )
    async with open_api(settings) as api:
        listed = (await api.client.get("/api/v1/templates?category=internal")).json()
        assert [t["id"] for t in listed["data"]] == ["team-badge"]
        # The 9 built-in ones and this one.
        assert (await api.client.get("/api/v1/templates")).json()["total"] == 10
        key = await api.key(await api.account(credits=5))
        created = await api.client.post(
            "/api/v1/templates/team-badge/render",
            json={"texts": {"name": "Ada"}},
            headers=auth(key),
        )
        assert created.status_code == 202, created.text
        job = await api.wait(key, created.json()["id"], timeout=60)
        assert job["status"] == "completed" and job["outputs"][0]["width"] == 400


@pytest.mark.parametrize(
    ("template", "says"),
    [
        (badge(layers=[]), "layers"),
        (badge(canvas={"width": 400}), "canvas.height"),
        (badge(colors={}), "colour variable $background is not declared"),
        (badge(type="video"), "needs duration_s and fps"),
        (badge(id="Bad Id"), "id"),
        (badge(layers=[{"kind": "rect", "box": [0, 0, 0, 10], "fill": "#000000"}]), "layers.0"),
        (badge(layers=[{"kind": "blob", "box": [0, 0, 5, 5]}]), "layers.0"),
    ],
)
def test_a_broken_template_file_is_refused_with_its_path(
    tmp_path: Path, template: dict[str, Any], says: str
) -> None:
    path = write(tmp_path, template, name="broken")
    with pytest.raises(TemplateError) as refused:
        load_library(tmp_path)
    assert str(path) in str(refused.value) and says in str(refused.value)


def test_not_json_and_a_missing_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "oops.json").write_text("{not json")
    with pytest.raises(TemplateError, match=r"oops\.json: not readable JSON"):
        load_library(tmp_path)
    with pytest.raises(TemplateError, match="is not a directory"):
        load_library(tmp_path / "absent")


async def test_the_server_does_not_start_with_a_broken_template(tmp_path: Path) -> None:
    write(tmp_path / "mine", badge(layers=[]))
    settings = make_settings(
        tmp_path / "data", disabled_engines=[], templates_dir=tmp_path / "mine"
    )
    with pytest.raises(TemplateError, match=r"team-badge\.json: layers"):
        async with open_api(settings):
            pass
