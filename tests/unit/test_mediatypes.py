"""One media type per extension: what is recorded for a stored file is what it is served as."""

from __future__ import annotations

from mediastudio.files import sniff
from mediastudio.kit.mediatypes import media_type


def test_every_accepted_upload_kind_is_served_as_it_was_recorded() -> None:
    kinds = [value for value in vars(sniff).values() if isinstance(value, sniff.Kind)]
    assert len(kinds) >= 15
    for kind in kinds:
        assert media_type(f"acc/uploads/file_x{kind.extension}") == kind.content_type


def test_types_do_not_depend_on_the_machines_mime_table() -> None:
    assert media_type("acc/gen/0.wav") == "audio/wav"  # mimetypes says audio/x-wav here
    assert media_type("acc/gen/1.mid") == "audio/midi"  # and audio/sp-midi
    assert media_type("acc/gen/2.srt") == "application/x-subrip"  # and text/plain
    assert media_type("acc/gen/3.PNG") == "image/png"
    assert media_type("acc/gen/4.unknown") == "application/octet-stream"
    assert media_type("acc/gen/5") == "application/octet-stream"
