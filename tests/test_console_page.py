"""The console's page and files as the service serves them, without a browser: from the package,
under a policy that lets in no inline script and nothing from another origin."""

from __future__ import annotations

import re

import httpx

from wallet_api.http.console import CONSOLE_DIR

CONSOLE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def test_console_page_is_served_under_the_console_policy(client: httpx.AsyncClient) -> None:
    for path in ("/console", "/console/"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == CONSOLE_POLICY
        assert response.headers["x-frame-options"] == "DENY"
        assert "<title>wallet-api console</title>" in response.text


async def test_console_page_has_no_inline_script_and_loads_only_its_own_files(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/console")).text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.DOTALL)
    assert scripts
    for attributes, body in scripts:
        assert 'src="/console/' in attributes
        assert body.strip() == ""
    assert not re.search(r"\son[a-z]+=", page), "no inline event handlers"
    assert " style=" not in page
    linked = re.findall(r'(?:src|href)="(/console/[^"]+)"', page)
    assert linked
    for path in linked:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CONSOLE_POLICY


async def test_every_console_module_is_served_as_javascript_from_the_package(
    client: httpx.AsyncClient,
) -> None:
    modules = sorted(path.name for path in CONSOLE_DIR.glob("*.js"))
    assert "app.js" in modules
    for name in modules:
        response = await client.get(f"/console/{name}")
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]
        assert response.text == (CONSOLE_DIR / name).read_text()
        assert "http://" not in response.text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in response.text


async def test_console_answers_404_for_a_file_it_does_not_ship(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/console/missing.js")).status_code == 404


async def test_api_answers_keep_the_api_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/wallets/00000000-0000-0000-0000-000000000001")
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert response.headers["cache-control"] == "no-store"
