"""Copy the legacy app's customers into a Fundament collection: the data step of strangling
its customers API (docs/gateway.md).

    python examples/legacy/migrate.py --legacy http://127.0.0.1:5000 \\
        --fundament http://127.0.0.1:8000 --tenant acme --key "$ADMIN_KEY"

Creates the `customers` collection (customer_id indexed: the gateway finds a legacy id by
it; email personal) unless it exists, then one record per legacy customer not copied yet.
Legacy's served_at and request_id are answers' noise, not data: they are not copied.
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx

SCHEMA = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "integer"},
        "name": {"type": "string"},
        "email": {"type": "string"},
        "tier": {"type": "string"},
    },
    "required": ["customer_id"],
    "additionalProperties": False,
}
FIELDS = tuple(SCHEMA["properties"])  # type: ignore[arg-type]


def migrate(legacy: httpx.Client, fundament: httpx.Client, tenant: str) -> int:
    """Copy what is missing; the number of records created."""
    base = f"/v1/tenants/{tenant}/collections"
    r = fundament.get(f"{base}/customers")
    if r.status_code == 404:
        r = fundament.post(
            base,
            json={
                "name": "customers",
                "schema": SCHEMA,
                "indexes": ["customer_id"],
                "personal_fields": ["email"],
            },
        )
    r.raise_for_status()
    created = 0
    customers: list[dict[str, Any]] = legacy.get("/api/customers").raise_for_status().json()
    for customer in customers:
        found = fundament.get(
            f"{base}/customers/records", params={"filter": f"customer_id eq {int(customer['customer_id'])}"}
        ).raise_for_status()
        if found.json()["items"]:
            continue
        data = {k: customer[k] for k in FIELDS if k in customer}
        fundament.post(f"{base}/customers/records", json={"data": data}).raise_for_status()
        created += 1
    return created


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--legacy", required=True, help="the legacy app's base URL")
    parser.add_argument("--fundament", required=True, help="Fundament's base URL")
    parser.add_argument("--tenant", required=True, help="the tenant's id or slug")
    parser.add_argument("--key", required=True, help="an admin key of the tenant")
    args = parser.parse_args()
    with (
        httpx.Client(base_url=args.legacy) as legacy,
        httpx.Client(base_url=args.fundament, headers={"Authorization": f"Bearer {args.key}"}) as fundament,
    ):
        print(f"copied {migrate(legacy, fundament, args.tenant)} customers")


if __name__ == "__main__":
    main()
