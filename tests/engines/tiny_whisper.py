"""A tiny random Whisper model as a faster-whisper (CTranslate2) folder, built offline.

The vocabulary has large-v3's layout (51,866 ids): 50,257 byte-level text tokens, then
``<|endoftext|>``, ``<|startoftranscript|>``, the 100 language tokens, the task and prompt
tokens, ``<|nocaptions|>``, ``<|notimestamps|>`` and the 1,501 timestamps ``<|0.00|>``…
``<|30.00|>``. The text tokens are the 256 byte characters plus filler words, so whatever the
random weights pick decodes to some text. Two layers each side of width 64: a few MB, seconds
to build and convert. Its output is garbage but deterministic (CTranslate2's seeded sampling).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mediastudio.engines.local import whisper
from tests.engines.tiny_cache import cached

TEXT_TOKENS = 50_257
TASK_TOKENS = (
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
)
TIMESTAMPS = 1501
EMPTY_TOKEN_ID = 50_000  # a filler text token
_built: dict[Path, Path] = {}  # the session's base temporary folder → the model built there


def require_whisper() -> None:
    """Skip (fail under CI) without faster-whisper, and without the converter's own needs."""
    from tests.engines.tiny_diffusion import require_local_extra

    require_local_extra()  # torch and transformers build the model that is converted
    missing = whisper.missing_modules()
    if missing:
        message = f"{', '.join(missing)} missing: `make install` or {whisper.EXTRA_HINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def tiny_whisper(factory: pytest.TempPathFactory) -> Path:
    """The tiny model, built once per test session (per xdist worker) as ``tiny-whisper``."""
    require_whisper()
    base = factory.getbasetemp()
    if base not in _built:
        _built[base] = build(factory.mktemp("whisper-weights") / "tiny-whisper")
    return _built[base]


def languages() -> list[str]:
    """Whisper large-v3's 100 language codes, in token order."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return list(_LANGUAGE_CODES)


def special_tokens() -> list[str]:
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *(f"<|{code}|>" for code in languages()),
        *TASK_TOKENS,
        *(f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMPS)),
    ]


def _byte_chars() -> list[str]:
    """GPT-2's byte-to-character table: each of the 256 bytes as a printable character."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs, strict=True))]


def write_tokenizer(folder: Path) -> int:
    """tokenizer.json (byte-level BPE, Whisper's special ids); returns the vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    chars = _byte_chars()
    words = ["Ġhello", "Ġworld", "Ġthe", "Ġsound", "Ġtest", "Ġlocal", "Ġmodel"]
    vocab = {token: index for index, token in enumerate(chars)}
    for index in range(len(vocab), TEXT_TOKENS):
        word = words[index % len(words)]
        vocab[word if word not in vocab else f"{word}{index}"] = index
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # type: ignore[assignment]
    tokenizer.decoder = decoders.ByteLevel()  # type: ignore[assignment]
    tokenizer.add_special_tokens(special_tokens())
    tokenizer.save(str(folder / "tokenizer.json"))
    return tokenizer.get_vocab_size()


def build(target: Path) -> Path:
    """Write the CTranslate2 folder ``target`` (model.bin, config.json, vocabulary.json,
    tokenizer.json, preprocessor_config.json) and return it. Built once per test session
    (tests/engines/tiny_cache.py): a worker that only copies it never imports torch."""
    return cached(target, _build)


def _build(target: Path) -> Path:
    import ctranslate2
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    source = target.parent / f"{target.name}-hf"
    source.mkdir(parents=True, exist_ok=True)
    vocab_size = write_tokenizer(source)
    assert vocab_size == TEXT_TOKENS + len(special_tokens()) == 51_866
    first_language = TEXT_TOKENS + 2
    config = WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=448,
        pad_token_id=TEXT_TOKENS,
        bos_token_id=TEXT_TOKENS,
        eos_token_id=TEXT_TOKENS,
        decoder_start_token_id=TEXT_TOKENS + 1,
        suppress_tokens=[],
        begin_suppress_tokens=[220, TEXT_TOKENS],
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        suppress_tokens=[],
        begin_suppress_tokens=[220, TEXT_TOKENS],
        lang_to_id={f"<|{code}|>": first_language + i for i, code in enumerate(languages())},
        decoder_start_token_id=TEXT_TOKENS + 1,
    )
    model.save_pretrained(str(source))
    (source / "preprocessor_config.json").write_text(
        json.dumps({"feature_size": 80, "sampling_rate": 16000, "hop_length": 160}),
        encoding="utf-8",
    )
    (source / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}), encoding="utf-8"
    )
    converter = ctranslate2.converters.TransformersConverter(
        str(source),
        copy_files=["tokenizer.json", "preprocessor_config.json"],
        load_as_float16=False,
    )
    converter.convert(str(target), quantization="int8", force=True)
    # CTranslate2 reads a vocabulary as multilingual (language detection, <|de|>) when it holds
    # the empty token, as the real multilingual one does: a filler piece becomes it.
    vocabulary_file = target / "vocabulary.json"
    vocabulary = json.loads(vocabulary_file.read_text(encoding="utf-8"))
    vocabulary[EMPTY_TOKEN_ID] = ""
    vocabulary_file.write_text(json.dumps(vocabulary), encoding="utf-8")
    return target
