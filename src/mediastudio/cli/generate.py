"""``mediastudio generate image|video|speech|music|<tool>`` and ``mediastudio run MODEL``.

Each submits one job through the SDK, follows it with a progress bar, downloads the outputs and
prints their paths (docs/cli.md). Only typer is imported here: the SDK loads when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mediastudio.cli.remote import (
    ApiKey,
    AsJson,
    NoWait,
    OutputPath,
    ServerUrl,
    Timeout,
    create_and_finish,
    drop_none,
    parse_inputs,
)

if TYPE_CHECKING:
    from mediastudio.client import Client, Generation

app = typer.Typer(
    help="Submit a job, follow it with a progress bar and download what it made.",
    no_args_is_help=True,
)

# The typed create routes under /api/v1 that take no prompt of their own: their fields come
# from --input key=value / --input-json (the route's schema is in /docs).
TOOLS: dict[str, tuple[str, str]] = {
    "image-edit": ("generate/image-edit", "Edit an image as an instruction says"),
    "commercial": ("generate/commercial", "A product commercial (MP4)"),
    "remove-background": ("images/remove-background", "Remove an image's background"),
    "upscale": ("images/upscale", "Upscale an image 2 or 4 times"),
    "transform": ("images/transform", "Apply a filter or style to an image"),
    "subtitles": ("videos/subtitles", "Burn subtitles into a video"),
    "social-variants": ("videos/social-variants", "One video per social platform"),
    "translate": ("videos/translate", "Dub a video into another language"),
    "clip": ("videos/clip", "Cut the best moments of a video into clips"),
    "lipsync": ("videos/lipsync", "Make a video's face say a sound"),
    "avatar": ("avatars/animate", "Make a face talk"),
}

Inputs = Annotated[
    list[str] | None,
    typer.Option(
        "--input", "-i", help="A field as key=value (value parsed as JSON when it is); repeatable"
    ),
]
InputJson = Annotated[str | None, typer.Option("--input-json", help="Fields as one JSON object")]
Model = Annotated[str | None, typer.Option("--model", help="Model id (default per type)")]
Seed = Annotated[int | None, typer.Option("--seed", help="Fixes the randomness")]
Format = Annotated[str | None, typer.Option("--format", help="Output file format")]


@app.command("image")
def image(
    prompt: Annotated[str, typer.Argument(help="What to draw")],
    aspect_ratio: Annotated[
        str | None, typer.Option("--aspect-ratio", help="1:1, 16:9, 9:16, 4:3, 3:4, 3:2, 2:3")
    ] = None,
    width: Annotated[int | None, typer.Option(help="Width in pixels")] = None,
    height: Annotated[int | None, typer.Option(help="Height in pixels")] = None,
    negative_prompt: Annotated[str | None, typer.Option(help="What to avoid")] = None,
    num_outputs: Annotated[int | None, typer.Option(help="How many images (1-4)")] = None,
    output_format: Format = None,
    seed: Seed = None,
    model: Model = None,
    inputs: Inputs = None,
    input_json: InputJson = None,
    output: OutputPath = None,
    no_wait: NoWait = False,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_key: ApiKey = None,
    url: ServerUrl = None,
) -> None:
    """Generate images: generate image "a red bicycle" --aspect-ratio 16:9 -o bike.png"""
    output_format = output_format or _format_of(output, ("png", "webp", "jpg"))
    body = {
        **parse_inputs(inputs, input_json),
        **drop_none(
            aspect_ratio=aspect_ratio,
            width=width,
            height=height,
            negative_prompt=negative_prompt,
            num_outputs=num_outputs,
            output_format=output_format,
            seed=seed,
            model=model,
        ),
    }

    def make(client: Client) -> Generation:
        return client.generate.image(prompt=prompt, **body)

    create_and_finish(
        api_key, url, make, output=output, no_wait=no_wait, as_json=as_json, timeout=timeout
    )


@app.command("video")
def video(
    prompt: Annotated[str, typer.Argument(help="What happens in the video")],
    duration: Annotated[int | None, typer.Option(help="Length in seconds (1-10)")] = None,
    aspect_ratio: Annotated[
        str | None, typer.Option("--aspect-ratio", help="16:9, 9:16, 1:1, 4:3, 3:4")
    ] = None,
    fps: Annotated[int | None, typer.Option(help="Frames per second")] = None,
    first_frame_image: Annotated[
        str | None, typer.Option(help="An image (URL or upload id) to start from")
    ] = None,
    seed: Seed = None,
    model: Model = None,
    inputs: Inputs = None,
    input_json: InputJson = None,
    output: OutputPath = None,
    no_wait: NoWait = False,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_key: ApiKey = None,
    url: ServerUrl = None,
) -> None:
    """Generate a video (MP4)."""
    body = {
        **parse_inputs(inputs, input_json),
        **drop_none(
            duration=duration,
            aspect_ratio=aspect_ratio,
            fps=fps,
            first_frame_image=first_frame_image,
            seed=seed,
            model=model,
        ),
    }

    def make(client: Client) -> Generation:
        return client.generate.video(prompt=prompt, **body)

    create_and_finish(
        api_key, url, make, output=output, no_wait=no_wait, as_json=as_json, timeout=timeout
    )


@app.command("speech")
def speech(
    text: Annotated[str, typer.Argument(help="What to say")],
    voice: Annotated[str | None, typer.Option(help="Voice id (see GET /api/v1/voices)")] = None,
    speed: Annotated[float | None, typer.Option(help="Speaking rate, 1.0 is normal")] = None,
    language: Annotated[str | None, typer.Option(help="BCP 47 language code")] = None,
    output_format: Format = None,
    model: Model = None,
    inputs: Inputs = None,
    input_json: InputJson = None,
    output: OutputPath = None,
    no_wait: NoWait = False,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_key: ApiKey = None,
    url: ServerUrl = None,
) -> None:
    """Speak a text (mp3, wav or ogg)."""
    output_format = output_format or _format_of(output, ("mp3", "wav", "ogg"))
    body = {
        **parse_inputs(inputs, input_json),
        **drop_none(
            voice=voice, speed=speed, language=language, output_format=output_format, model=model
        ),
    }

    def make(client: Client) -> Generation:
        return client.generate.speech(text=text, **body)

    create_and_finish(
        api_key, url, make, output=output, no_wait=no_wait, as_json=as_json, timeout=timeout
    )


@app.command("music")
def music(
    prompt: Annotated[str, typer.Argument(help="What the music should be")],
    duration: Annotated[int | None, typer.Option(help="Length in seconds (5-300)")] = None,
    genre: Annotated[str | None, typer.Option()] = None,
    mood: Annotated[str | None, typer.Option()] = None,
    output_format: Format = None,
    seed: Seed = None,
    model: Model = None,
    inputs: Inputs = None,
    input_json: InputJson = None,
    output: OutputPath = None,
    no_wait: NoWait = False,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_key: ApiKey = None,
    url: ServerUrl = None,
) -> None:
    """Generate music (mp3 or wav)."""
    output_format = output_format or _format_of(output, ("mp3", "wav"))
    body = {
        **parse_inputs(inputs, input_json),
        **drop_none(
            duration=duration,
            genre=genre,
            mood=mood,
            output_format=output_format,
            seed=seed,
            model=model,
        ),
    }

    def make(client: Client) -> Generation:
        return client.generate.music(prompt=prompt, **body)

    create_and_finish(
        api_key, url, make, output=output, no_wait=no_wait, as_json=as_json, timeout=timeout
    )


def _tool_command(route: str, summary: str) -> Any:
    def command(
        inputs: Inputs = None,
        input_json: InputJson = None,
        model: Model = None,
        output: OutputPath = None,
        no_wait: NoWait = False,
        timeout: Timeout = None,
        as_json: AsJson = False,
        api_key: ApiKey = None,
        url: ServerUrl = None,
    ) -> None:
        body = {**parse_inputs(inputs, input_json), **drop_none(model=model)}

        def make(client: Client) -> Generation:
            return client.generate.tool(route, **body)

        create_and_finish(
            api_key, url, make, output=output, no_wait=no_wait, as_json=as_json, timeout=timeout
        )

    command.__doc__ = f"{summary} (POST /api/v1/{route}; fields as --input key=value)."
    return command


for _name, (_route, _summary) in TOOLS.items():
    app.command(_name)(_tool_command(_route, _summary))


def run(
    model: Annotated[str, typer.Argument(help="Any catalog model id (mediastudio models list)")],
    inputs: Inputs = None,
    input_json: InputJson = None,
    output: OutputPath = None,
    no_wait: NoWait = False,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_key: ApiKey = None,
    url: ServerUrl = None,
) -> None:
    """Run any catalog model: mediastudio run builtin/espeak --input text="Hello" -o hello.mp3"""
    body = parse_inputs(inputs, input_json)

    def make(client: Client) -> Generation:
        return client.generations.create(model, body)

    create_and_finish(
        api_key, url, make, output=output, no_wait=no_wait, as_json=as_json, timeout=timeout
    )


def _format_of(output: Path | None, allowed: tuple[str, ...]) -> str | None:
    """``-o bicycle.png`` asks for a PNG: the file's suffix picks the format when it is one the
    route knows and ``--format`` is not given (``.jpeg`` counts as ``jpg``)."""
    if output is None:
        return None
    suffix = output.suffix.lower().lstrip(".")
    suffix = "jpg" if suffix == "jpeg" else suffix
    return suffix if suffix in allowed else None
