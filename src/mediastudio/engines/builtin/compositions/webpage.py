"""What an ad needs from a product page's HTML: its title, description, product images and
prices. Parsed with the standard library's ``html.parser`` (tolerant of broken markup, no
new dependency); the page itself is fetched by the job's SSRF-safe fetcher, never here.

Sources, best first: Open Graph / Twitter card ``<meta>`` tags, schema.org ``Product`` data
(JSON-LD and ``itemprop`` microdata), then the plain ``<title>``, ``<meta name=description>``,
``<h1>``, the first paragraph, and ``<img>`` tags that say they show the product.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

MAX_IMAGES = 4  # product images an ad uses (a commercial shows each for a few seconds)
MAX_TEXT = 500
# A price written in the page's text: a currency sign or code next to an amount.
PRICE_TEXT = re.compile(
    r"(?:[$€£¥₹]\s?\d{1,6}(?:[.,]\d{3})*(?:[.,]\d{1,2})?"
    r"|\d{1,6}(?:[.,]\d{3})*(?:[.,]\d{1,2})?\s?(?:€|USD|EUR|GBP))"
)
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
_WORDS = re.compile(r"\s+")


@dataclass
class PageFacts:
    """What was found; empty fields were not on the page."""

    title: str = ""
    description: str = ""
    images: list[str] = field(default_factory=list)  # absolute URLs, best first, no repeats
    prices: list[str] = field(default_factory=list)  # as shown to a reader ("$49.99")

    @property
    def price(self) -> str | None:
        return self.prices[0] if self.prices else None


def _clean(text: str) -> str:
    return _WORDS.sub(" ", text).strip()[:MAX_TEXT]


def _price(amount: str, currency: str | None) -> str | None:
    amount = amount.strip()
    if not re.fullmatch(r"\d{1,9}(?:[.,]\d{1,3})*", amount):
        return None
    code = (currency or "").strip().upper()
    sign = CURRENCY_SIGNS.get(code)
    if sign is not None:
        return f"{sign}{amount}"
    return f"{amount} {code}" if code else amount


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, list[str]] = {}
        self.base: str | None = None
        self.title = ""
        self.h1 = ""
        self.paragraph = ""
        self.images: list[str] = []  # <img> that say they show the product
        self.itemprop_images: list[str] = []
        self.itemprop_prices: list[tuple[str, str | None]] = []
        self.itemprop_currency: str | None = None
        self.json_ld: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None  # title, h1, p or script (JSON-LD) being read
        self._buffer: list[str] = []
        self._skip = 0  # inside <script>/<style> that is not JSON-LD

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: (value or "") for name, value in attrs}
        if tag == "meta":
            key = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
            if key and "content" in a:
                self.meta.setdefault(key, []).append(a["content"])
        elif tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag == "link" and a.get("rel", "").lower() == "image_src" and a.get("href"):
            self.meta.setdefault("image_src", []).append(a["href"])
        elif tag == "img":
            src = a.get("src") or a.get("data-src") or ""
            said = " ".join((a.get("class", ""), a.get("id", ""), a.get("alt", ""))).lower()
            if src and a.get("itemprop", "").lower() == "image":
                self.itemprop_images.append(src)
            elif src and "product" in said:
                self.images.append(src)
        if a.get("itemprop", "").lower() == "price" and tag != "meta":
            self.itemprop_prices.append((a.get("content", ""), None))
        if tag == "script":
            if a.get("type", "").lower() == "application/ld+json":
                self._start("script")
            else:
                self._skip += 1
        elif tag == "style":
            self._skip += 1
        elif tag in ("title", "h1", "p") and self._in is None:
            self._start(tag)

    def _start(self, tag: str) -> None:
        self._in, self._buffer = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._in != "script" and self._skip:
            self._skip -= 1
            return
        if tag != self._in:
            return
        text = "".join(self._buffer)
        if tag == "script":
            self.json_ld.append(text)
        elif tag == "title" and not self.title:
            self.title = _clean(text)
        elif tag == "h1" and not self.h1:
            self.h1 = _clean(text)
        elif tag == "p" and not self.paragraph and len(_clean(text)) >= 20:
            self.paragraph = _clean(text)
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._buffer.append(data)
        if not self._skip and self._in != "script":
            self.text.append(data)


def _products(node: Any) -> list[dict[str, Any]]:
    """schema.org ``Product`` objects anywhere in a JSON-LD document (``@graph`` too)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, list):
        for item in node:
            found.extend(_products(item))
    elif isinstance(node, dict):
        kind = node.get("@type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "Product" in kinds:
            found.append(node)
        for value in node.values():
            if isinstance(value, (dict, list)):
                found.extend(_products(value))
    return found


def _strings(value: Any) -> list[str]:
    """An image field: a URL, a list of them, or ImageObjects with ``url``."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return _strings(value.get("url") or value.get("contentUrl"))
    if isinstance(value, list):
        return [url for item in value for url in _strings(item)]
    return []


def _offers(product: dict[str, Any]) -> list[str]:
    offers = product.get("offers")
    items = offers if isinstance(offers, list) else [offers]
    prices = []
    for offer in items:
        if isinstance(offer, dict):
            amount = offer.get("price", offer.get("lowPrice"))
            if amount is not None:
                found = _price(str(amount), offer.get("priceCurrency"))
                if found:
                    prices.append(found)
    return prices


def _fetchable(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https", "data")


def parse_page(html: str, page_url: str) -> PageFacts:
    """The facts of one page; relative image URLs resolved against the page (or its
    ``<base href>``). Only ``http(s)`` and ``data:`` image URLs are kept; whether one may be
    fetched is the fetcher's decision, made when it is fetched."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    meta = collector.meta

    def first(*keys: str) -> str:
        for key in keys:
            for value in meta.get(key, []):
                if _clean(value):
                    return _clean(value)
        return ""

    products: list[dict[str, Any]] = []
    for text in collector.json_ld:
        try:
            products.extend(_products(json.loads(text)))
        except ValueError:
            continue  # a broken JSON-LD block says nothing

    facts = PageFacts()
    ld_name = next((str(p["name"]) for p in products if isinstance(p.get("name"), str)), "")
    facts.title = first("og:title", "twitter:title") or _clean(ld_name) or collector.title
    facts.title = facts.title or collector.h1
    ld_description = next(
        (str(p["description"]) for p in products if isinstance(p.get("description"), str)), ""
    )
    facts.description = (
        first("og:description", "twitter:description", "description")
        or _clean(ld_description)
        or collector.paragraph
    )

    base = urljoin(page_url, collector.base) if collector.base else page_url
    candidates = [
        *meta.get("og:image", []),
        *meta.get("og:image:url", []),
        *meta.get("og:image:secure_url", []),
        *(url for product in products for url in _strings(product.get("image"))),
        *collector.itemprop_images,
        *meta.get("twitter:image", []),
        *meta.get("image_src", []),
        *collector.images,
    ]
    for candidate in candidates:
        url = urljoin(base, candidate.strip()) if candidate.strip() else ""
        if url and _fetchable(url) and url not in facts.images:
            facts.images.append(url)

    prices: list[str] = []
    for amount_key, currency_key in (
        ("product:price:amount", "product:price:currency"),
        ("og:price:amount", "og:price:currency"),
        ("price", "pricecurrency"),  # schema.org microdata on a <meta itemprop=…>
    ):
        amount = first(amount_key)
        if amount:
            found = _price(amount, first(currency_key) or None)
            if found:
                prices.append(found)
    prices.extend(price for product in products for price in _offers(product))
    currency = first("pricecurrency") or None
    for amount, _ in collector.itemprop_prices:
        found = _price(amount, currency) if amount else None
        if found:
            prices.append(found)
    if not prices:  # only then the page's text: a product page's first price is its own
        prices.extend(PRICE_TEXT.findall(" ".join(collector.text)))
    facts.prices = list(dict.fromkeys(_clean(price) for price in prices))[:MAX_IMAGES]
    return facts


def tagline(description: str, limit: int = 160) -> str:
    """A short line from the description: its first sentence, cut at a word within ``limit``."""
    text = _clean(description)
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-") + "…"
