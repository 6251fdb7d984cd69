"""``builtin/instant-ad``: ad creatives from a product page's URL.

1. the page: fetched by the job's SSRF-safe fetcher like every user URL (a private or loopback
   address is refused, the job fails and is refunded), its title, description, product images
   and prices read from the HTML (:mod:`.webpage`);
2. the product images: fetched the same way and read; one that cannot be (not an image, not
   reachable) is left out, since a page lists images an ad cannot use;
3. ``count`` image creatives: each a ``builtin/template`` step on the platform's product-ad
   template (its size), the title as headline, a tagline from the description, the price (or the
   site's name) above it, one product image each in turn, the colours of ``style``;
4. and/or ``count`` video creatives: each a ``builtin/commercial`` step on the product images,
   the style as its tone, a different seed per variation (music and motion).

One job, billed once (2 credits per image creative, plus the commercial's 20 per video), its
outputs in order: the images, then the videos. A failed step fails the whole job (refunded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from mediastudio.engines.builtin.compositions import commercial
from mediastudio.engines.builtin.compositions.webpage import (
    MAX_IMAGES,
    PageFacts,
    parse_page,
    tagline,
)
from mediastudio.engines.compose import Composition
from mediastudio.engines.contract import (
    EngineError,
    InputFetcher,
    InvalidInput,
    ModelSpec,
    OutputFile,
    PlannedOutput,
    RunContext,
)
from mediastudio.engines.inputs import CommercialPlatform, CommercialTone, StrictInput
from mediastudio.engines.media.images import planned_image, read_header
from mediastudio.engines.registry import EngineRegistry

MODEL_ID = "builtin/instant-ad"
TYPE = "instant-ad"
TEMPLATE_MODEL = "builtin/template"
COMMERCIAL_MODEL = commercial.SPEC.id
IMAGE_CREDITS = 2  # per image creative: the template render and the page's reading
VIDEO_CREDITS = commercial.CREDITS  # per video creative: a commercial's price
VIDEO_SECONDS = 15  # the commercial's shortest
MAX_PAGE_BYTES = 5_000_000  # product pages of big shops run to a few MB of HTML
MAX_HEADLINE = 90  # the templates' headline slot
MAX_TAGLINE = 160
MAX_EYEBROW = 40
MAX_PRODUCT_NAME = 40  # what the commercial's voice-over says of it
IMAGE_FORMAT: Literal["png"] = "png"

AdPlatform = Literal["tiktok", "youtube", "instagram", "facebook", "linkedin"]
AdStyle = Literal["modern", "bold", "minimal", "luxury", "playful"]


@dataclass(frozen=True)
class PlatformShape:
    template: str  # the product-ad template of the platform's feed size
    width: int
    height: int
    commercial: CommercialPlatform  # whose frame shape the video takes


# Feed sizes: TikTok 9:16; YouTube 16:9; Instagram's feed 4:5; Facebook's feed 1:1; LinkedIn's
# single-image ad 1.91:1. A video takes the nearest commercial shape (Facebook's feed also plays
# 4:5 video; LinkedIn's is 16:9).
PLATFORMS: dict[str, PlatformShape] = {
    "tiktok": PlatformShape("product-ad-9x16", 1080, 1920, "tiktok"),
    "youtube": PlatformShape("product-ad-16x9", 1920, 1080, "youtube"),
    "instagram": PlatformShape("product-ad-4x5", 1080, 1350, "instagram"),
    "facebook": PlatformShape("product-ad-1x1", 1080, 1080, "instagram"),
    "linkedin": PlatformShape("product-ad-1-91x1", 1200, 628, "youtube"),
}


@dataclass(frozen=True)
class Style:
    colors: dict[str, str]  # the product-ad templates' colour variables
    tone: CommercialTone  # the video's voice, music and script
    calls: tuple[str, ...]  # call-to-action texts, one per variation in turn


STYLES: dict[str, Style] = {
    "modern": Style(
        {"background": "#0f172a", "panel": "#1e293b", "accent": "#22d3ee", "text": "#ffffff",
         "muted": "#94a3b8", "cta_text": "#0f172a"},
        "professional",
        ("Shop now", "Learn more", "See it", "Get yours"),
    ),
    "bold": Style(
        {"background": "#111111", "panel": "#262626", "accent": "#facc15", "text": "#ffffff",
         "muted": "#e5e5e5", "cta_text": "#111111"},
        "energetic",
        ("Buy now", "Grab it", "Don't miss it", "Shop now"),
    ),
    "minimal": Style(
        {"background": "#ffffff", "panel": "#f4f4f5", "accent": "#18181b", "text": "#18181b",
         "muted": "#52525b", "cta_text": "#ffffff"},
        "calm",
        ("Discover", "Learn more", "Shop", "See more"),
    ),
    "luxury": Style(
        {"background": "#0c0a09", "panel": "#1c1917", "accent": "#d4af37", "text": "#f5f5f4",
         "muted": "#a8a29e", "cta_text": "#0c0a09"},
        "luxury",
        ("Discover", "Explore", "Shop the collection", "Find yours"),
    ),
    "playful": Style(
        {"background": "#fdf2f8", "panel": "#fce7f3", "accent": "#ec4899", "text": "#4c0519",
         "muted": "#9d174d", "cta_text": "#ffffff"},
        "playful",
        ("Get yours!", "Try it!", "Shop now!", "Treat yourself!"),
    ),
}  # fmt: skip


class InstantAdInput(StrictInput):
    website_url: str = Field(
        min_length=1,
        max_length=2048,
        description="The product or landing page (https; fetched like every input URL)",
    )
    platform: AdPlatform = Field(
        description=(
            "Where the ads run, which sets their size: tiktok 1080x1920, youtube 1920x1080, "
            "instagram 1080x1350, facebook 1080x1080, linkedin 1200x628 (videos: the "
            "commercial's 9:16, 16:9 or 4:5)"
        )
    )
    count: int = Field(1, ge=1, le=4, description="Variations of each format, 1-4")
    style: AdStyle = Field("modern", description="Colours, call to action and the video's tone")
    output_format: Literal["image", "video", "both"] = Field(
        "image", description="Image creatives, 15 s video creatives, or both"
    )
    resolution: Literal["480p", "720p", "1080p"] = Field(
        "720p", description="Video creatives' frame size by its short side"
    )

    @property
    def images(self) -> int:
        return self.count if self.output_format in ("image", "both") else 0

    @property
    def videos(self) -> int:
        return self.count if self.output_format in ("video", "both") else 0

    @property
    def num_outputs(self) -> int:
        """Each creative is an output: priced per output, plus each video's commercial."""
        return self.images + self.videos


def video_credits(validated: BaseModel) -> int:
    """Beyond the per-output price: the rest of a commercial's price per video creative."""
    assert isinstance(validated, InstantAdInput)
    return validated.videos * (VIDEO_CREDITS - IMAGE_CREDITS)


@dataclass(frozen=True)
class Creative:
    """One variation's words and picture (the same for its image and its video)."""

    headline: str
    tagline: str
    eyebrow: str  # the price, else the site's name
    price: str | None
    call: str
    image: int | None  # index into the usable product images

    def fields(self, variation: int, job: InstantAdInput, kind: str) -> dict[str, object]:
        return {
            "variation": variation,
            "format": kind,
            "platform": job.platform,
            "style": job.style,
            "headline": self.headline,
            "tagline": self.tagline,
            "price": self.price,
        }


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-") + "…"


def creatives(job: InstantAdInput, facts: PageFacts, images: int) -> list[Creative]:
    """``count`` variations: the product images, prices and calls to action taken in turn."""
    site = urlsplit(job.website_url).hostname or ""
    site = site.removeprefix("www.") if site else ""
    headline = _cut(page_name(facts.title) or site or "New arrival", MAX_HEADLINE)
    line = tagline(facts.description, MAX_TAGLINE)
    style = STYLES[job.style]
    made = []
    for index in range(job.count):
        price = facts.prices[index % len(facts.prices)] if facts.prices else None
        eyebrow = _cut(price or site or "New", MAX_EYEBROW)
        made.append(
            Creative(
                headline=headline,
                tagline=line,
                eyebrow=eyebrow,
                price=price,
                call=style.calls[index % len(style.calls)],
                image=index % images if images else None,
            )
        )
    return made


def read_page(fetcher: InputFetcher, url: str) -> PageFacts:
    path = fetcher.fetch(url, max_bytes=MAX_PAGE_BYTES)
    html = path.read_bytes().decode("utf-8", errors="replace")
    facts = parse_page(html, url)
    if not facts.title and not facts.description:
        raise InvalidInput(
            "website_url: no title or description was found on that page (is it an HTML page?)."
        )
    return facts


def usable_images(fetcher: InputFetcher, facts: PageFacts) -> list[tuple[str, Path]]:
    """The page's product images that can be fetched and read, with their local files; the
    others are left out (a page lists images an ad cannot use)."""
    usable: list[tuple[str, Path]] = []
    for url in facts.images:
        try:
            path = fetcher.fetch(url)
            read_header(path)
        except EngineError:
            continue
        usable.append((url, path))
        if len(usable) == MAX_IMAGES:
            break
    return usable


def _no_images() -> InvalidInput:
    return InvalidInput(
        "website_url: no usable product image was found on that page (og:image, schema.org "
        "Product image or a product <img>); a video creative is made from the product's images."
    )


def page_name(title: str) -> str:
    """The product's name in a page title ("Aurora Shoe | Acme Store" → "Aurora Shoe"): shops
    append their own name, which an ad's headline does not repeat."""
    name = re.split(r"\s[|:\u2013\u2014-]\s|\s\|", title, maxsplit=1)[0].strip()
    return name or title.strip()


def product_name(title: str) -> str:
    """What the commercial's voice-over says: the name, short enough for its 15 s."""
    return _cut(page_name(title), MAX_PRODUCT_NAME)


def template_input(
    job: InstantAdInput, creative: Creative, image_url: str | None
) -> dict[str, object]:
    texts: dict[str, str] = {"headline": creative.headline, "cta": creative.call}
    if creative.tagline:
        texts["tagline"] = creative.tagline
    if creative.eyebrow:
        texts["eyebrow"] = creative.eyebrow
    return {
        "template_id": PLATFORMS[job.platform].template,
        "texts": texts,
        "images": {"product": image_url} if image_url is not None else {},
        "colors": STYLES[job.style].colors,
        "output_format": IMAGE_FORMAT,
    }


def commercial_input(
    job: InstantAdInput, creative: Creative, image_urls: list[str], variation: int
) -> dict[str, object]:
    # Each variation opens on another image, so the videos differ in picture too.
    first = (creative.image or 0) % len(image_urls)
    return {
        "product": product_name(creative.headline),
        "platform": PLATFORMS[job.platform].commercial,
        "duration": VIDEO_SECONDS,
        "tone": STYLES[job.style].tone,
        "product_images": image_urls[first:] + image_urls[:first],
        "resolution": job.resolution,
        "seed": variation,
    }


class InstantAd:
    """The composition (see the module's notes); ``commercial_model`` lets tests run its video
    steps on a lighter commercial."""

    def __init__(self, *, commercial_model: str = COMMERCIAL_MODEL) -> None:
        self.commercial_model = commercial_model
        self.spec = ModelSpec(
            id=MODEL_ID,
            name="Instant ad from a URL",
            type=TYPE,
            input_model=InstantAdInput,
            credits=IMAGE_CREDITS,
            price_unit="output",
            extra_credits=video_credits,
            description=(
                "Reads a product page (title, description, product images, prices) and makes "
                "1-4 ad creatives in the platform's size: images from the product-ad templates, "
                "and/or 15 s commercials from the product images. 2 credits per image, 20 per "
                "video."
            ),
            category="composition",
            timeout_s=3600,
            output_kind="image",
            plan=self.plan_outputs,
        )

    def step_models(self) -> tuple[str, ...]:
        return (TEMPLATE_MODEL, self.commercial_model)

    def plan_outputs(self, validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
        """The page is read (refused as the live job would refuse it), then: one image per
        image creative at the template's size, one commercial's MP4 per video creative."""
        job = validated
        assert isinstance(job, InstantAdInput)
        facts = read_page(fetcher, job.website_url)
        images = usable_images(fetcher, facts)
        if job.videos and not images:
            raise _no_images()
        made = creatives(job, facts, len(images))
        shape = PLATFORMS[job.platform]
        planned: list[PlannedOutput] = []
        for variation, creative in enumerate(made[: job.images], start=1):
            image = planned_image(IMAGE_FORMAT, shape.width, shape.height, alpha=False)
            planned.append(replace(image, extra=creative.fields(variation, job, "image")))
        urls = [url for url, _ in images]
        for variation, creative in enumerate(made[: job.videos], start=1):
            payload = commercial_input(job, creative, urls, variation)
            validated_video = commercial.CommercialJobInput.model_validate(payload)
            [video] = commercial.Commercial().plan_outputs(validated_video, fetcher)
            planned.append(replace(video, extra=creative.fields(variation, job, "video")))
        return planned

    def run(self, ctx: RunContext, registry: EngineRegistry) -> None:
        job = ctx.input
        assert isinstance(job, InstantAdInput)
        weights: dict[str, float] = {"page": 1.0}
        weights.update({f"image-{i + 1}": 1.0 for i in range(job.images)})
        weights.update({f"video-{i + 1}": 20.0 for i in range(job.videos)})
        steps = Composition(ctx, registry, weights)
        with steps.stage("page") as progress:
            facts = read_page(ctx.fetcher, job.website_url)
            progress(0.3)
            images = usable_images(ctx.fetcher, facts)
            if job.videos and not images:
                raise _no_images()
        for url, path in images:
            steps.share(url, path)
        urls = [url for url, _ in images]
        made = creatives(job, facts, len(images))
        for variation, creative in enumerate(made[: job.images], start=1):
            picture = urls[creative.image] if creative.image is not None else None
            [output] = steps.run_model(
                f"image-{variation}", TEMPLATE_MODEL, template_input(job, creative, picture)
            )[:1]
            output.extra = creative.fields(variation, job, "image")
            ctx.add_output(output)
        for variation, creative in enumerate(made[: job.videos], start=1):
            payload = commercial_input(job, creative, urls, variation)
            [output] = steps.run_model(f"video-{variation}", self.commercial_model, payload)[:1]
            ctx.add_output(
                OutputFile(
                    output.path,
                    output.content_type,
                    width=output.width,
                    height=output.height,
                    duration_s=output.duration_s,
                    extra=creative.fields(variation, job, "video"),
                )
            )
