"""The operator's pages (owned by the operator views' work: tenants, usage, FinOps, capacity).

A placeholder start page until those land: the tenants, each linking to its tenant-admin
pages (an operator key may act on every tenant).
"""

from __future__ import annotations

from starlette.responses import Response

from fundament.console.core import Console, Pages

pages = Pages("operator")


@pages.page("/operator", nav="Tenants")
async def tenants(c: Console) -> Response:
    listing = await c.api.get("/v1/tenants", {"limit": "200", "cursor": c.query.get("cursor", "")})
    return c.render(
        "operator_home.html", title="Tenants", tenants=listing["items"], next_cursor=listing["next_cursor"]
    )
