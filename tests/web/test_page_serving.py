"""The command-center page as the service serves it: the page, its assets, /ui/config and its labels.

Against the real app (the session `client` on PostgreSQL); the browser-driven behaviour is tested by
the browser tests. Every check here reads what a browser would fetch, so a file missing from the
package, a wrong content type or a label key missing in one language fails before any browser runs.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import httpx
import pytest
from pydantic import ValidationError

from app.config import Settings
from app.main import create_app
from app.web.routes import STATIC_DIR

SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # an XML namespace name: never fetched
IMPORT_RE = re.compile(r"""(?:import|from)\s*['"](\./[^'"]+)['"]""")
T_CALL_RE = re.compile(r"""\bt(?:Or)?\('([a-z0-9_.]+)'""")
EXPECTED_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".html": "text/html",
}


class _Refs(HTMLParser):
    """src/href attributes and data-i18n keys of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.i18n_keys: set[str] = set()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("src", "href"):
                self.urls.append(value)
            if name in ("data-i18n", "data-i18n-title"):
                self.i18n_keys.add(value)
            if name == "id":
                self.ids.add(value)


def _page_refs() -> _Refs:
    refs = _Refs()
    refs.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    return refs


def _modules() -> set[str]:
    """Every JavaScript module the page loads: main.js and what it imports, transitively."""
    seen: set[str] = set()
    todo = ["main.js"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = (STATIC_DIR / "js" / name).read_text(encoding="utf-8")
        todo.extend(m.removeprefix("./") for m in IMPORT_RE.findall(text))
    return seen


def _i18n() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = json.loads((STATIC_DIR / "i18n.json").read_text(encoding="utf-8"))
    return table


async def test_root_serves_the_page_without_a_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    for element_id in (
        "signin",
        "signin-token",
        "signin-submit",
        "app",
        "map",
        "drones",
        "alerts",
        "workorders",
    ):
        assert f'id="{element_id}"' in r.text


async def test_every_asset_the_page_loads_is_served_with_its_content_type(client: httpx.AsyncClient) -> None:
    page_urls = [u for u in _page_refs().urls if u.startswith("/static/")]
    module_urls = [f"/static/js/{name}" for name in sorted(_modules())]
    urls = sorted({*page_urls, *module_urls, "/static/i18n.json", "/favicon.ico"})
    assert "/static/js/main.js" in page_urls and "/static/style.css" in page_urls
    assert len(module_urls) >= 5  # main.js reached its imports: the scan did not come back empty
    for url in urls:
        r = await client.get(url)
        assert r.status_code == 200, url
        suffix = ".svg" if url == "/favicon.ico" else url[url.rindex(".") :]
        assert r.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), (url, r.headers["content-type"])
        assert r.content, url


async def test_a_missing_asset_is_a_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    r = await client.get("/static/js/no-such-module.js")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_no_static_file_references_an_external_url() -> None:
    offenders = []
    files = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
    assert len(files) >= 8
    for path in files:
        text = path.read_text(encoding="utf-8").replace(SVG_NAMESPACE, "")
        for match in re.finditer(r"https?://|(?:src|href)\s*=\s*['\"]//", text):
            offenders.append(f"{path.relative_to(STATIC_DIR)}: ...{text[match.start() : match.start() + 60]}")
    assert not offenders, "\n".join(offenders)


async def test_ui_config_defaults_to_no_base_map(client: httpx.AsyncClient) -> None:
    r = await client.get("/ui/config")
    assert r.status_code == 200
    assert r.json() == {"tile_url": None, "tile_crs": "wgs84", "tile_attribution": "", "patrol_fresh_h": 24.0}


async def test_ui_config_carries_the_configured_tile_source_and_nothing_else() -> None:
    settings = Settings(
        database_url="postgresql://unused@127.0.0.1:1/none",
        tile_url="https://tiles.city.internal/amap/{z}/{x}/{y}.png",
        tile_crs="gcj02",
        tile_attribution="© city GIS",
    )
    app = create_app(settings)  # /ui/config reads only the settings: no lifespan, no database
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://aerogrid.test"
    ) as c:
        body = (await c.get("/ui/config")).json()
    assert body == {
        "tile_url": "https://tiles.city.internal/amap/{z}/{x}/{y}.png",
        "tile_crs": "gcj02",
        "tile_attribution": "© city GIS",
        "patrol_fresh_h": 24.0,
    }
    assert "postgresql" not in json.dumps(body)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://tiles.example/{z}/{x}.png", "{y}"),
        ("ftp://tiles.example/{z}/{x}/{y}.png", "http(s)://"),
        ("https://tiles.example/{z}/{x}/{y}.png?a b", "without spaces"),
    ],
)
def test_a_tile_url_the_page_cannot_fill_is_refused(url: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(tile_url=url)
    assert "tile_url" in str(caught.value) and problem in str(caught.value)


def test_the_label_table_has_the_same_keys_in_both_languages() -> None:
    table = _i18n()
    assert set(table) == {"en", "zh-CN"}
    assert len(table["en"]) > 50
    assert set(table["en"]) == set(table["zh-CN"])
    assert all(value.strip() for lang in table.values() for value in lang.values())


def test_every_label_key_the_page_uses_is_in_the_table() -> None:
    keys = set(_i18n()["en"])
    page_keys = _page_refs().i18n_keys
    assert len(page_keys) > 20
    assert not page_keys - keys, f"index.html keys missing from i18n.json: {sorted(page_keys - keys)}"
    script_keys = {
        k for name in _modules() for k in T_CALL_RE.findall((STATIC_DIR / "js" / name).read_text())
    }
    assert len(script_keys) > 20
    assert not script_keys - keys, f"script keys missing from i18n.json: {sorted(script_keys - keys)}"


async def test_page_routes_stay_out_of_the_api_description(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not {"/", "/ui/config", "/favicon.ico"} & set(paths)


async def test_the_sign_in_form_cannot_put_a_token_in_a_url_before_the_script_takes_it(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/")).text
    section = re.search(r"<section[^>]*\bid=\"signin\"[^>]*>", html)
    form = re.search(r"<form[^>]*\bid=\"signin-form\"[^>]*>", html)
    assert section and form
    assert re.search(r"\shidden(\s|>|=)", section.group(0)), "shown only once the script is ready"
    assert 'method="post"' in form.group(0), "a submit without the script must not GET /?token=..."
