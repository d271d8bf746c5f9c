"""/docs and /redoc work with no internet: every script, style and icon they load is served by the
API itself (fastapi-offline's bundled Swagger UI and ReDoc), checked from the HTML and in a real
headless browser that records every request it makes."""

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.integration

DOC_PAGES = ("/docs", "/redoc")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class AssetLinks(HTMLParser):
    """Every URL a page would load by itself: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {"script": "src", "link": "href", "img": "src", "iframe": "src"}
        wanted = dict(attrs).get(names.get(tag, ""))
        if wanted:
            self.urls.append(wanted)


@pytest.mark.parametrize("page", DOC_PAGES)
def test_doc_pages_load_only_local_assets_without_a_key(stack, page):
    with httpx.Client(base_url=stack.api_url, timeout=30) as anonymous:  # no API key: the docs are public
        html = anonymous.get(page)
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in html.headers["content-security-policy"]  # the browser stays on this origin
        assert "http://" not in html.text and "https://" not in html.text, "the page names an outside address"
        parser = AssetLinks()
        parser.feed(html.text)
        assert any(url.endswith(".js") for url in parser.urls)  # the UI's bundle is among them
        for url in parser.urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
            asset = anonymous.get(url)
            assert asset.status_code == 200, f"{url}: {asset.status_code}"
            assert asset.content
        schema = anonymous.get("/openapi.json")
        assert schema.status_code == 200 and schema.json()["info"]["title"] == "GANForge"


def test_every_schema_reference_resolves(stack):
    """ReDoc refuses to draw anything when one `$ref` points nowhere (Swagger UI just shows a gap)."""
    with httpx.Client(base_url=stack.api_url, timeout=30) as anonymous:
        schema = anonymous.get("/openapi.json").json()
    dangling = set()

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = schema
                for token in ref.removeprefix("#/").split("/"):
                    target = target.get(token) if isinstance(target, dict) else None
                if target is None:
                    dangling.add(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert not dangling, f"references to nothing: {sorted(dangling)}"


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="the `test` extra installs playwright")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it)")
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize(("page", "rendered"), [
    ("/docs", ".swagger-ui .info .title"),  # Swagger UI drew the API's title from /openapi.json
    ("/redoc", "h1"),  # ReDoc too
])
def test_doc_pages_render_in_a_browser_that_fetches_nothing_outside(browser, stack, page, rendered):
    context = browser.new_context(base_url=stack.api_url)
    tab = context.new_page()
    outside: list[str] = []
    local = urlsplit(stack.api_url).netloc

    def route(request_route):
        url = request_route.request.url
        if urlsplit(url).netloc == local or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:  # would need the internet: note it and refuse it, as an offline machine would
            outside.append(url)
            request_route.abort()

    context.route("**/*", route)
    try:
        tab.goto(page)
        title = tab.wait_for_selector(rendered, timeout=30_000)
        assert "GANForge" in title.inner_text()
        tab.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert outside == []
