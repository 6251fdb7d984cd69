"""Commercial scripts from templates: a hook, benefits, an optional audience line and a call to
action, in the voice of a tone, sized to the commercial's length.

Deterministic: the same product, tone, duration and audience always give the same script. The
variant of each line is picked by a hash of the product name, so two products of one tone do not
read identically. The product name appears in the hook and the call to action; benefit lines say
"it", so a longer product name does not crowd out what is said about it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

WORDS_PER_S = 2.5
SPOKEN_SHARE = 0.8  # of the commercial's length; the rest is lead-in, pauses and the end card


@dataclass(frozen=True)
class ToneLines:
    hooks: tuple[str, ...]
    benefits: tuple[str, ...]  # the tone's own first, then the shared ones
    calls: tuple[str, ...]
    audience: str


_SHARED_BENEFITS = (
    "It is designed to fit right into your day.",
    "Every detail has been thought through.",
    "It is built to last, and made to be used.",
    "Setting it up takes a minute, not an afternoon.",
    "It works the way you expect it to, every time.",
    "The quality shows from the very first use.",
    "It looks as good as it works.",
    "Small things add up, and this one adds a lot.",
    "It is the kind of upgrade you notice every day.",
    "People who try it tend to keep it.",
    "It does one job, and does it beautifully.",
    "Less hassle, more of what matters.",
    "It earns its place from day one.",
    "Simple to start, hard to put down.",
)

TONES: dict[str, ToneLines] = {
    "professional": ToneLines(
        hooks=("Introducing {product}.", "Meet {product}, built for people who get things done."),
        benefits=(
            "It is reliable, efficient and ready when you are.",
            "It saves you time, so you can focus on what counts.",
            "Trusted quality, with none of the complexity.",
        ),
        calls=("Get {product} today.", "Choose {product}. Learn more today."),
        audience="Made for {audience}.",
    ),
    "energetic": ToneLines(
        hooks=("Ready for something big? This is {product}!", "Say hello to {product}!"),
        benefits=(
            "It is fast, it is bold, and it just works!",
            "More power, more fun, zero compromise!",
            "Turn every moment up a notch!",
        ),
        calls=("Grab {product} now!", "Don't wait. Get {product} today!"),
        audience="Made for {audience}!",
    ),
    "casual": ToneLines(
        hooks=("So, this is {product}.", "Okay, let's talk about {product}."),
        benefits=(
            "It just makes life a little easier.",
            "No fuss, no stress, it simply works.",
            "Honestly, you will wonder how you managed without it.",
        ),
        calls=("Give {product} a try.", "Check out {product} today."),
        audience="Made for {audience}.",
    ),
    "luxury": ToneLines(
        hooks=("{product}. Refined, in every sense.", "Discover {product}."),
        benefits=(
            "Crafted with care, and finished to perfection.",
            "Timeless design, for those who expect more.",
            "Quiet elegance, in every detail.",
        ),
        calls=("{product}. Experience it for yourself.", "Discover {product} today."),
        audience="Created for {audience}.",
    ),
    "funny": ToneLines(
        hooks=(
            "Warning: {product} may cause extreme happiness.",
            "Stop everything. It's {product}.",
        ),
        benefits=(
            "Your old one called. It is feeling a little jealous.",
            "It is so good, your friends will want to borrow it. Don't let them.",
            "Side effects include smiling for no reason.",
        ),
        calls=("Get {product}. Your future self says thanks.", "Go get {product}. Seriously."),
        audience="Made for {audience}, and anyone with good taste.",
    ),
    "calm": ToneLines(
        hooks=("Take a breath. This is {product}.", "Slow down, and meet {product}."),
        benefits=(
            "Simple, gentle, and made to bring you ease.",
            "Everything you need, and nothing you don't.",
            "A little more calm in every day.",
        ),
        calls=("Find your calm with {product}.", "Discover {product}, whenever you're ready."),
        audience="Made for {audience}.",
    ),
    "playful": ToneLines(
        hooks=("Guess what? {product} is here!", "Psst. Have you met {product} yet?"),
        benefits=(
            "It is bright, it is fun, and it loves an adventure.",
            "Every day just got a little more exciting.",
            "Go on, have a little fun with it.",
        ),
        calls=("Come play with {product} today!", "Get {product} and join the fun!"),
        audience="Made for {audience}!",
    ),
}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def word_budget(duration_s: float) -> int:
    return int(duration_s * SPOKEN_SHARE * WORDS_PER_S)


def _pick(options: tuple[str, ...], key: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}:{key.casefold()}".encode()).digest()
    return options[digest[0] % len(options)]


def write_script(
    product: str, tone: str, duration_s: float, *, audience: str | None = None
) -> list[str]:
    """The sentences of a script for ``product`` that reads in about 80% of ``duration_s`` at
    2.5 words per second (the hook and call to action always, as many benefits as fit)."""
    lines = TONES[tone]
    product = product.strip().rstrip(".!?")
    hook = _pick(lines.hooks, product, "hook").format(product=product)
    call = _pick(lines.calls, product, "call").format(product=product)
    middle: list[str] = []
    if audience:
        middle.append(lines.audience.format(audience=audience.strip().rstrip(".!?")))
    budget = word_budget(duration_s) - _words(hook) - _words(call) - sum(map(_words, middle))
    start = hashlib.sha256(product.casefold().encode()).digest()[1] % len(_SHARED_BENEFITS)
    shared = _SHARED_BENEFITS[start:] + _SHARED_BENEFITS[:start]
    benefits: list[str] = []
    for line in lines.benefits + shared:
        if _words(line) > budget:
            break
        benefits.append(line)
        budget -= _words(line)
    return [*split_sentences(hook), *benefits, *middle, *split_sentences(call)]


def split_sentences(text: str) -> list[str]:
    """A script's sentences (split after ``.``, ``!`` or ``?``); blank ones dropped."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]


def _words(text: str) -> int:
    return len(text.split())
