"""The arithmetic of settling a composition's steps priced by the second
(runtime/settlement.py): what the quoted steps reserved, less what their reports say they made."""

from __future__ import annotations

from pydantic import BaseModel

from mediastudio.engines.contract import ModelSpec, StepUse
from mediastudio.runtime.settlement import StepMade, quoted_steps, unmade_step_credits


class Nothing(BaseModel):
    pass


LIPSYNC = ModelSpec(
    "sync-lipsync", "Lip-sync", "lipsync", Nothing, 87, price_unit="output_second", max_output_s=30
)
AVATAR = ModelSpec(
    "veed-fabric", "Avatar", "avatar", Nothing, 264, price_unit="output_second", max_output_s=30
)
SPEECH = ModelSpec("openai/gpt-4o-mini-tts", "Speech", "speech", Nothing, 20)


def catalog_price(model_id: str, credits: int) -> int:
    return credits


def test_reserved_seconds_are_the_longest_output_rounded_up_and_none_otherwise() -> None:
    assert LIPSYNC.reserved_seconds == 30
    half = ModelSpec("x", "x", "lipsync", Nothing, 1, price_unit="output_second", max_output_s=2.5)
    assert half.reserved_seconds == 3
    assert half.units(Nothing()) == 3
    assert SPEECH.reserved_seconds is None


def test_a_4_s_lipsync_step_gives_back_26_of_its_30_seconds() -> None:
    made = [StepMade("lipsync", "sync-lipsync", 4.0)]
    assert unmade_step_credits([SPEECH, LIPSYNC], made, catalog_price) == 26 * 87 == 2262
    # The dub's figures: 61 of its own and its other steps, 30 s of lip-sync reserved.
    reserved = 61 + 30 * 87
    assert reserved == 2671
    assert reserved - 2262 == 409 == 61 + 4 * 87


def test_seconds_are_rounded_up_at_least_one_and_at_most_the_reservation() -> None:
    def unmade(seconds: float | None) -> int:
        return unmade_step_credits(
            [LIPSYNC], [StepMade("lipsync", "sync-lipsync", seconds)], catalog_price
        )

    assert unmade(2.25) == 27 * 87  # 3 s charged
    assert unmade(4.0000001) == 26 * 87  # a probe's rounding is not a second more
    assert unmade(0.0) == 29 * 87  # a step that gave an output pays at least a second
    assert unmade(45.0) == 0  # never more than was reserved
    assert unmade(None) == 0  # an output without a length pays the reservation


def test_a_step_that_made_nothing_gives_back_all_its_seconds() -> None:
    # Failed, skipped, or never reached: no report.
    assert unmade_step_credits([SPEECH, LIPSYNC], [], catalog_price) == 30 * 87


def test_steps_not_priced_by_the_second_are_charged_as_quoted() -> None:
    made = [StepMade(f"speak-{i}", SPEECH.id, 3.0) for i in range(5)]
    assert unmade_step_credits([SPEECH], made, catalog_price) == 0
    # A report of a model that was not quoted settles nothing.
    assert unmade_step_credits([SPEECH], [StepMade("x", "sync-lipsync", 1)], catalog_price) == 0


def test_a_model_quoted_twice_settles_its_reports_together() -> None:
    made = [StepMade("clip-1", AVATAR.id, 10.0), StepMade("clip-2", AVATAR.id, 31.0)]
    # 60 s reserved; 10 + 30 (capped per report) made.
    assert unmade_step_credits([AVATAR, AVATAR], made, catalog_price) == 20 * 264
    # More reports than quotes (a step run per segment) never charge past the reservation.
    many = [StepMade(f"s{i}", AVATAR.id, 20.0) for i in range(3)]
    assert unmade_step_credits([AVATAR], many, catalog_price) == 0


def test_the_price_is_the_settings_price_now() -> None:
    made = [StepMade("lipsync", "sync-lipsync", 4.0)]

    def doubled(model_id: str, credits: int) -> int:
        return credits * 2 if model_id == "sync-lipsync" else credits

    assert unmade_step_credits([LIPSYNC], made, doubled) == 26 * 174


class Composed(BaseModel):
    lipsync_model: str | None = None
    speech_model: str | None = "openai/gpt-4o-mini-tts"


def test_the_quoted_steps_are_the_models_the_input_names() -> None:
    def uses(validated: BaseModel) -> list[StepUse]:
        assert isinstance(validated, Composed)
        steps = [StepUse("speech", "speech_model", {})]
        if validated.lipsync_model is not None:
            steps.append(StepUse("lipsync", "lipsync_model", {}))
        return steps

    spec = ModelSpec("test/dub", "Dub", "dubbing", Composed, 20, uses=uses)
    known = {m.id: m for m in (LIPSYNC, SPEECH)}
    assert quoted_steps(spec, Composed(lipsync_model="sync-lipsync"), known.get) == [
        SPEECH,
        LIPSYNC,
    ]
    assert quoted_steps(spec, Composed(), known.get) == [SPEECH]
    # A model no longer installed is left out; a model without steps has none.
    assert quoted_steps(spec, Composed(lipsync_model="gone"), known.get) == [SPEECH]
    assert quoted_steps(SPEECH, Composed(), known.get) == []
