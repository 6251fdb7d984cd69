"""espeak-ng through ctypes, from the ``espeakng-loader`` wheel (library and voice data inside).

espeak-ng keeps ONE synthesizer per process: the selected voice, the rate, the pitch and the
callback that receives audio are globals in the C library. So this module holds one
:class:`Espeak` per process, initialised once, and every call that touches that state
(voice, parameters, synthesis, listing voices) runs under one process-wide lock. A job takes
the lock for one chunk of text at a time, so two jobs interleave chunk by chunk and each chunk
is spoken with its own job's voice and parameters, set again whenever the last chunk spoken
was another job's.

The library runs in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode: ``espeak_Synth`` calls the synth
callback on the calling thread with 16-bit samples and returns only when the text is spoken.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import espeakng_loader
import numpy as np
from numpy.typing import NDArray

from mediastudio.engines.contract import EngineError

# speak_lib.h (API revision 12)
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of exit() when the data is missing
CHARS_UTF8 = 1
ENDPAUSE = 0x1000  # add the library's own sentence pause at the end of the text
POS_CHARACTER = 1
PARAM_RATE = 1
PARAM_PITCH = 3
EE_OK = 0
RATE_MINIMUM = 80  # words per minute, espeakRATE_MINIMUM
RATE_MAXIMUM = 450  # espeakRATE_MAXIMUM
RATE_NORMAL = 175  # espeakRATE_NORMAL
GENDERS = {1: "male", 2: "female"}
VARIANT_SPEC = b"variant"  # espeak_ListVoices with this language lists the voice variants
VARIANT_DIR = "!v/"

Pcm = NDArray[np.int16]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_void_p),  # a union of int, const char * and char[8]: pointer-sized
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated name)*, then NUL
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class RawVoice:
    """One entry of ``espeak_ListVoices``; languages as ``(priority, code)``, main one first."""

    name: str
    identifier: str
    gender: str | None
    languages: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Settings:
    """What a chunk is spoken with: a voice name espeak accepts (``en-us`` or ``en-us+f3``),
    the rate in words per minute and the pitch (0-100, 50 is the voice's own)."""

    voice: str
    rate_wpm: int
    pitch: int


class Espeak:
    """The process's espeak-ng. Get it with :func:`espeak`; never build a second one."""

    def __init__(self) -> None:
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._declare()
        data = espeakng_loader.get_data_path().encode()
        rate = self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise EngineError("espeak-ng could not be initialised (is its voice data there?)")
        self.sample_rate = int(rate)
        # The callback writes into the sink of the chunk being spoken; both are only touched
        # under LOCK. The ctypes callback object must stay referenced as long as the library.
        self._sink: list[Pcm] = []
        self._abort: Callable[[], bool] = _never
        self._callback = _SynthCallback(self._on_audio)
        self._lib.espeak_SetSynthCallback(self._callback)
        self._current: Settings | None = None

    def _declare(self) -> None:
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,  # text
            ctypes.c_size_t,  # size in bytes, with the terminating NUL
            ctypes.c_uint,  # position
            ctypes.c_int,  # position type
            ctypes.c_uint,  # end position (0: none)
            ctypes.c_uint,  # flags
            ctypes.c_void_p,  # unique identifier (NULL)
            ctypes.c_void_p,  # user data (NULL)
        ]
        lib.espeak_Synth.restype = ctypes.c_int

    def _on_audio(self, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            self._sink.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 1 if self._abort() else 0  # 1 asks the library to stop this text

    # Under LOCK ------------------------------------------------------------------------------

    def list_voices(self) -> tuple[list[RawVoice], list[RawVoice]]:
        """(language voices, variants). Call under :data:`LOCK`."""
        voices = self._list(None)
        spec = _Voice()
        spec.languages = ctypes.cast(ctypes.c_char_p(VARIANT_SPEC), ctypes.c_void_p).value
        variants = [v for v in self._list(spec) if v.identifier.startswith(VARIANT_DIR)]
        return voices, variants

    def _list(self, spec: _Voice | None) -> list[RawVoice]:
        found = self._lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        voices: list[RawVoice] = []
        index = 0
        while found[index]:
            entry = found[index].contents
            voices.append(
                RawVoice(
                    name=(entry.name or b"").decode("utf-8", "replace").strip(),
                    identifier=(entry.identifier or b"").decode("utf-8", "replace"),
                    gender=GENDERS.get(entry.gender),
                    languages=_languages(entry.languages),
                )
            )
            index += 1
        return voices

    def synthesize(self, text: str, settings: Settings, *, pause_after: bool, abort: Abort) -> Pcm:
        """Speak ``text``; returns mono 16-bit samples at :attr:`sample_rate`. Call under LOCK.

        ``pause_after`` adds the library's own end-of-sentence pause. ``abort`` is polled per
        audio buffer (about 60 ms of speech); when it turns true the library stops early.
        """
        self._apply(settings)
        encoded = text.encode("utf-8")
        flags = CHARS_UTF8 | (ENDPAUSE if pause_after else 0)
        self._sink, self._abort = [], abort
        try:
            status = self._lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, flags, None, None
            )
            pcm = np.concatenate(self._sink) if self._sink else np.zeros(0, np.int16)
        finally:
            self._sink, self._abort = [], _never
        if status != EE_OK:
            raise EngineError(f"espeak-ng could not speak the text (error {status}).")
        return pcm

    def _apply(self, settings: Settings) -> None:
        if self._current == settings:
            return
        self._current = None  # if anything below fails, set everything again next time
        if self._lib.espeak_SetVoiceByName(settings.voice.encode()) != EE_OK:
            raise EngineError(f"espeak-ng has no voice {settings.voice!r}.")
        for parameter, value in ((PARAM_RATE, settings.rate_wpm), (PARAM_PITCH, settings.pitch)):
            if self._lib.espeak_SetParameter(parameter, value, 0) != EE_OK:
                raise EngineError("espeak-ng refused a speech parameter.")
        self._current = settings


Abort = Callable[[], bool]

LOCK = threading.Lock()
"""Held around every use of the library's global state (see the module docstring)."""

_instance: Espeak | None = None


def espeak() -> Espeak:
    """The process's :class:`Espeak`, initialised on first use. Call under :data:`LOCK`."""
    global _instance
    if _instance is None:
        _instance = Espeak()
    return _instance


def _never() -> bool:
    return False


def _languages(address: int | None) -> tuple[tuple[int, str], ...]:
    """Parse espeak's ``languages`` field: (priority byte, NUL-terminated UTF-8 name)*, NUL.
    The order is the voice file's (its main language first); a lower priority is preferred."""
    found: list[tuple[int, str]] = []
    if not address:
        return ()
    while (priority := ctypes.c_ubyte.from_address(address).value) != 0:
        name = ctypes.string_at(address + 1)
        found.append((priority, name.decode("utf-8", "replace")))
        address += len(name) + 2
    return tuple(found)
