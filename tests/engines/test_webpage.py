"""Reading a product page for the instant ad (engines/builtin/compositions/webpage.py): the
sources shops use, in their order of trust, relative URLs, and broken markup."""

from __future__ import annotations

from mediastudio.engines.builtin.compositions.instant_ad import product_name
from mediastudio.engines.builtin.compositions.webpage import parse_page, tagline

PAGE = "https://shop.example/p/aurora?ref=ad"


def test_open_graph_comes_first_and_relative_images_resolve_against_the_page() -> None:
    html = """<html><head><title>Plain title</title>
    <meta property="og:title" content="Aurora Shoe">
    <meta property="og:description" content="Light.   Fast.">
    <meta property="og:image" content="/img/a.png">
    <meta property="product:price:amount" content="89.00">
    <meta property="product:price:currency" content="EUR">
    <meta name="twitter:image" content="https://cdn.example/t.jpg">
    </head><body><img class="ProductImage" src="gallery/b.png"><img src="logo.png"></body></html>"""
    facts = parse_page(html, PAGE)
    assert facts.title == "Aurora Shoe" and facts.description == "Light. Fast."
    assert facts.images == [
        "https://shop.example/img/a.png",
        "https://cdn.example/t.jpg",
        "https://shop.example/p/gallery/b.png",
    ]
    assert facts.prices == ["€89.00"]


def test_schema_org_product_in_json_ld_and_microdata() -> None:
    html = """<head><base href="https://static.example/shop/">
    <script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
      {"@type": "WebPage", "name": "Not this"},
      {"@type": ["Product"], "name": "Kettle", "description": "Boils fast. Stays cool.",
       "image": [{"@type": "ImageObject", "url": "k1.jpg"}, "k2.jpg"],
       "offers": [{"price": 39.5, "priceCurrency": "GBP"}]}]}</script>
    <script type="application/ld+json">{ not json</script>
    <script>var price = "$1.00";</script>
    </head><body><div itemscope><img itemprop="image" src="/micro.png">
    <span itemprop="price" content="41.00">41</span></div>"""
    facts = parse_page(html, PAGE)
    assert facts.title == "Kettle" and facts.description == "Boils fast. Stays cool."
    assert facts.images == [
        "https://static.example/shop/k1.jpg",
        "https://static.example/shop/k2.jpg",
        "https://static.example/micro.png",
    ]
    assert facts.prices == ["£39.5", "41.00"]  # never the script's "$1.00"


def test_a_bare_page_falls_back_to_title_paragraph_and_prices_in_the_text() -> None:
    html = """<title>  Lamp  </title><h1>Desk lamp</h1><p>Hi</p>
    <p>A warm desk lamp with three levels of light.</p><p>Now $24.99, was $30</p>
    <img src="javascript:alert(1)" class="product"><img src="ftp://x/y.png" class="product">"""
    facts = parse_page(html, PAGE)
    assert facts.title == "Lamp"
    assert facts.description == "A warm desk lamp with three levels of light."
    assert facts.images == []  # only http(s) and data: URLs are kept
    assert facts.prices == ["$24.99", "$30"] and facts.price == "$24.99"
    assert parse_page("<p>unclosed <b>tags", PAGE).title == ""


def test_taglines_and_product_names_are_short() -> None:
    assert tagline("One. Two.") == "One."
    long = "word " * 60
    cut = tagline(long, 40)
    assert len(cut) <= 40 and cut.endswith("…")
    assert product_name("Aurora Trail Shoe | Acme Outdoor") == "Aurora Trail Shoe"
    assert product_name("Kettle - Acme") == "Kettle"
    assert product_name("Kettle-Pro 2") == "Kettle-Pro 2"
