"""``/docs`` works offline: Swagger UI's files come from Muster (the fastapi-offline package ships them),
the page names no other origin, and the security policy allows none."""

from __future__ import annotations

import re

from tests.api.conftest import Api


def test_docs_page_and_its_files_are_served_by_muster(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert "/docs/static/swagger-ui-bundle.js" in sources and "/docs/static/swagger-ui.css" in sources
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))], sources
    assert "https:" not in page.headers["content-security-policy"]
    for path, kind in (("/docs/static/swagger-ui-bundle.js", "javascript"), ("/docs/static/swagger-ui.css", "css")):
        asset = api.client.get(path)
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
        assert len(asset.content) > 10_000
    assert "SwaggerUIBundle" in api.client.get("/docs/static/swagger-ui-bundle.js").text
    assert api.client.get("/openapi.json").json()["openapi"].startswith("3.1")
