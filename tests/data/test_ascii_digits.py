"""Only ASCII digits are numbers: str.isdigit() also takes "¹" or "²", which int() refuses
(schemathesis found the 500s: ids in the path, limit/offset, relation ids in where)."""

from __future__ import annotations

import httpx

from tests.conftest import add_entity, add_relation, unique


def test_superscript_digits_are_a_4xx_not_a_500(api: httpx.Client) -> None:
    authors, posts = unique("dg_authors"), unique("dg_posts")
    add_entity(api, authors, {"name": {"type": "text"}})
    add_entity(api, posts, {"title": {"type": "text"}})
    add_relation(api, unique("dg_rel"), {"type": "n:1", "source": posts, "target": authors})
    base = f"/api/data/entity/{posts}"
    assert api.post(base, json={"title": "t"}).status_code == 201
    for method, url, kw in [
        ("GET", f"{base}/¹", {}),
        ("PATCH", f"{base}/¹", {"json": {"title": "x"}}),
        ("DELETE", f"{base}/¹", {}),
        ("GET", f"{base}/¹/{authors}", {}),
        ("GET", base, {"params": {"limit": "¹"}}),
        ("GET", base, {"params": {"offset": "²"}}),
        ("GET", base, {"params": {"where": f'{{"{authors}_id": "¹"}}'}}),
    ]:
        r = api.request(method, url, **kw)
        assert 400 <= r.status_code < 500, (method, url, kw, r.status_code, r.text)
        assert r.json()["error"], r.text
