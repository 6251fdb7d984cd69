"""A tiny, randomly initialised Stable Diffusion pipeline saved in the diffusers on-disk layout,
for tests that load it through the real loading path and run real denoising steps on the CPU.

The components are diffusers' own test components (``get_dummy_components`` in
tests/pipelines/stable_diffusion/test_stable_diffusion.py: a two-block UNet with 4 and 8
channels, a two-block VAE, a three-layer CLIP text encoder of width 32). Their tokenizer comes
from the hub there; here a CLIP tokenizer is written from a vocabulary and merges made in the
test (no network). The VAE halves the image: a 64x64 image denoises 32x32 latents.

torch and diffusers are the ``[local]`` extra: :func:`require_local_extra` skips a test without
them on a developer's machine and fails it under CI (``make install`` installs them).
"""

from __future__ import annotations

import importlib
import json
import os
import string
from pathlib import Path
from typing import Any

import pytest

from tests.engines.tiny_cache import cached

NATIVE_SIDE = 64  # the UNet's sample size 32 times the VAE's scale 2


def require_local_extra() -> None:
    from mediastudio.engines.local.diffusion import EXTRA_HINT, missing_modules

    missing = missing_modules()
    if missing:
        message = f"{', '.join(missing)} missing: `make install` or {EXTRA_HINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def write_tokenizer(folder: Path) -> None:
    """A CLIP tokenizer over lowercase letters and digits: each letter is a token, with and
    without the end-of-word mark, and no merges (every word is spelled out). Ids stay below the
    text encoder's vocabulary of 1000."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(string.ascii_lowercase + string.digits)
    tokens = ["<|startoftext|>", "<|endoftext|>", "!"]
    tokens += symbols + [f"{symbol}</w>" for symbol in symbols]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    config = {
        "model_max_length": 77,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "!",
        "tokenizer_class": "CLIPTokenizer",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def build_tiny_pipeline(folder: Path, *, seed: int = 0, attention: bool = True) -> Path:
    """Save a tiny StableDiffusionPipeline into ``folder``, built once per test session
    (tests/engines/tiny_cache.py): see :func:`_build_tiny_pipeline`."""
    return cached(
        folder,
        lambda target: _build_tiny_pipeline(target, seed=seed, attention=attention),
        builder="pipeline",
        seed=seed,
        attention=attention,
    )


def _build_tiny_pipeline(folder: Path, *, seed: int, attention: bool) -> Path:
    """Save a tiny StableDiffusionPipeline into ``folder`` (model_index.json, unet/, vae/,
    text_encoder/, tokenizer/, scheduler/): what ``models pull`` registers.

    ``attention=False`` leaves out the UNet's and the VAE's attention blocks (plain convolution
    blocks, no mid block in the UNet): self-attention over a megapixel's latents is far too slow
    on a CPU, and an alias such as flux-schnell renders a megapixel (FLUX's sizes)."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    diffusers: Any = importlib.import_module("diffusers")  # its classes are untyped

    torch.manual_seed(seed)
    blocks: dict[str, Any] = {
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    }
    if not attention:
        blocks = {
            "down_block_types": ("DownBlock2D", "DownBlock2D"),
            "up_block_types": ("UpBlock2D", "UpBlock2D"),
            "mid_block_type": None,
        }
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        cross_attention_dim=32,
        norm_num_groups=2,
        **blocks,
    )
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=[4, 8],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=2,
        mid_block_add_attention=attention,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=2,
            hidden_size=32,
            intermediate_size=64,
            layer_norm_eps=1e-05,
            num_attention_heads=8,
            num_hidden_layers=3,
            vocab_size=1000,
        )
    )
    write_tokenizer(folder / "tokenizer-source")
    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer-source"))
    pipeline = diffusers.StableDiffusionPipeline(
        unet=unet,
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(str(folder), safe_serialization=True)
    for path in (folder / "tokenizer-source").iterdir():
        path.unlink()
    (folder / "tokenizer-source").rmdir()
    return folder


VIDEO_TIME_STEP = 4  # the tiny LTX VAE compresses time 4x: 4k + 1 frames


def build_tiny_video_pipeline(folder: Path, *, seed: int = 0) -> Path:
    """Save a tiny LTXPipeline into ``folder``, built once per test session
    (tests/engines/tiny_cache.py): see :func:`_build_tiny_video_pipeline`."""
    return cached(
        folder,
        lambda target: _build_tiny_video_pipeline(target, seed=seed),
        builder="video",
        seed=seed,
    )


def _build_tiny_video_pipeline(folder: Path, *, seed: int) -> Path:
    """Save a tiny LTXPipeline (text to video; its image-to-video sibling shares the weights)
    into ``folder``: diffusers' own test components (``get_dummy_components`` in
    tests/pipelines/ltx/test_ltx.py: a one-layer transformer of width 32, a four-block VAE of 8
    channels that compresses space and time 4x, a two-layer T5 encoder of width 32). Their T5
    tokenizer comes from the hub there; here a Unigram vocabulary of letters and digits is made
    in the test. 9 frames of 64x32 denoise in well under a second per step on a CPU."""
    import torch
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    diffusers: Any = importlib.import_module("diffusers")

    torch.manual_seed(seed)
    transformer = diffusers.LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    vae = diffusers.AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=100,
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    ).eval()  # a constructed model is in training mode: its dropout would make runs differ
    symbols = list(string.ascii_lowercase + string.digits)
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(symbol, -3.0) for symbol in symbols]
    pieces += [("\u2581" + symbol, -3.0) for symbol in symbols]
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0)
    pipeline = diffusers.LTXPipeline(
        transformer=transformer,
        vae=vae,
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
    )
    pipeline.save_pretrained(str(folder), safe_serialization=True)
    return folder
