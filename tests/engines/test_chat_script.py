"""The chat-written commercial script's strict format: what is accepted, what is refused and why;
and when a writer exists at all (a chat model configured here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediastudio.engines.builtin import compositions
from mediastudio.engines.builtin.compositions.chat_script import (
    ScriptRefused,
    ScriptWriter,
    messages,
    parse_scenes,
    parse_script,
)
from mediastudio.engines.registry import EngineRegistry
from tests.conftest import make_settings
from tests.engines.test_commercial import commercial_input

GOOD = ["Meet Acme.", "It runs all day!", "Why wait?", "Get Acme today."]


def reply(sentences: object) -> str:
    return json.dumps({"sentences": sentences})


def test_a_json_list_of_sentences_is_the_script_whitespace_tidied() -> None:
    assert parse_script(reply(GOOD), 15) == GOOD
    fenced = "```json\n" + reply(["Meet  Acme.", " Get it\ntoday! "]) + "\n```"
    assert parse_script(fenced, 15) == ["Meet Acme.", "Get it today!"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("Meet Acme. Get it today.", "not JSON"),
        (json.dumps(["Meet Acme.", "Get it."]), "no list"),
        (json.dumps({"sentences": "Meet Acme."}), "no list"),
        (reply(["Meet Acme.", 3]), "no list"),
        (reply(["Meet Acme."]), "1 sentences"),
        (reply(["Go."] * 11), "11 sentences"),
        (reply(["Meet Acme.", "No full stop"]), "sentence 2"),
        (reply(["Meet Acme.", "x" * 200 + "."]), "sentence 2"),
        (reply(["Meet Acme. Get it.", "Now."]), "several sentences"),
        (reply(["word " * 30 + "end.", "word " * 20 + "end."]), "room for 45"),
    ],
)
def test_a_reply_outside_the_format_is_refused_saying_why(content: str, says: str) -> None:
    with pytest.raises(ScriptRefused) as refused:
        parse_script(content, 15)
    assert says in refused.value.message


def test_scenes_are_asked_for_only_when_the_shots_are_drawn() -> None:
    job = commercial_input()
    assert "scenes" not in messages(job)[0].content
    system, user = messages(job, 3)
    assert '"scenes"' in system.content and "Scenes: exactly 3" in user.content


@pytest.mark.parametrize(
    ("scenes", "says"),
    [
        (None, "no list"),
        (["A shoe.", 3, "A track."], "no list"),
        (["A shoe.", "A track."], "2 scenes, not 3"),
        (["A shoe.", "  ", "A track."], "scene 2"),
        (["A shoe.", "x" * 301, "A track."], "scene 2"),
    ],
)
def test_scenes_outside_the_format_are_refused_saying_why(scenes: object, says: str) -> None:
    content = json.dumps({"sentences": GOOD, "scenes": scenes})
    with pytest.raises(ScriptRefused) as refused:
        parse_scenes(content, 3)
    assert says in refused.value.message


def test_scenes_are_tidied_and_kept_in_order() -> None:
    content = json.dumps({"sentences": GOOD, "scenes": ["A  red\nshoe.", "A track.", "Dawn."]})
    assert parse_scenes(content, 3) == ["A red shoe.", "A track.", "Dawn."]


def test_a_writer_exists_only_when_a_chat_model_is_configured(tmp_path: Path) -> None:
    assert ScriptWriter.configured(make_settings(tmp_path)) is None
    keyed = make_settings(tmp_path, providers={"openai": {"api_key": "sk-test"}})
    writer = ScriptWriter.configured(keyed)
    assert writer is not None and writer.model.id == "openai/gpt-5.4-mini"
    job = commercial_input(target_audience="weekend runners")
    assert writer.credits(job) == writer.price == 1
    assert writer.credits(job.model_copy(update={"script": "Buy it."})) == 0
    asked = messages(job)[-1].content
    assert job.product in asked and "weekend runners" in asked and f"{job.duration} s" in asked


def test_the_builtin_commercial_prices_the_message_only_where_a_chat_model_is_configured(
    tmp_path: Path,
) -> None:
    job = commercial_input()
    plain = compositions.engine(make_settings(tmp_path), EngineRegistry())
    [commercial] = [m for m in plain.models() if m.id == "builtin/commercial"]
    assert commercial.extra_credits is None  # today's commercial, unchanged
    keyed = make_settings(tmp_path, providers={"openai": {"api_key": "sk-test"}})
    chatty = compositions.engine(keyed, EngineRegistry())
    [commercial] = [m for m in chatty.models() if m.id == "builtin/commercial"]
    assert commercial.extra_credits is not None and commercial.extra_credits(job) == 1
