"""What a console page costs over the API call it makes: the records page against
`GET …/records` itself, on a running server, one request at a time.

    python bench/console.py --base http://127.0.0.1:8000 --operator-key fdo_…

It makes a tenant with a collection of 50 records, signs in to the console with the
tenant's admin key (its session cookie carried by hand), then times N sequential GETs of
the API list (limit 50) and of the console's records page (which makes that same call in
process, plus the session, the template and the headers) and prints median and p90.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import httpx

COOKIE = "fundament_console"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--operator-key", required=True)
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    op = {"Authorization": f"Bearer {args.operator_key}"}
    with httpx.Client(base_url=args.base, timeout=30) as c:
        slug = f"bench-console-{uuid.uuid4().hex[:8]}"
        tenant = c.post("/v1/tenants", json={"name": "Bench", "slug": slug}, headers=op).json()["id"]
        key = c.post(f"/v1/tenants/{tenant}/api-keys", json={"name": "a", "role": "admin"}, headers=op).json()["key"]
        auth = {"Authorization": f"Bearer {key}"}
        schema = {"type": "object", "properties": {"email": {"type": "string"}, "n": {"type": "integer"}}}
        c.post(f"/v1/tenants/{tenant}/collections", json={"name": "contacts", "schema": schema}, headers=auth)
        for i in range(50):
            c.post(f"/v1/tenants/{tenant}/collections/contacts/records",
                   json={"data": {"email": f"p{i}@example.com", "n": i}}, headers=auth)
        # Sign in: the form's CSRF token, then the key.
        r = c.get("/console/")
        cookie = r.cookies.get(COOKIE) or r.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        token = r.text.split('name="csrf" value="')[1].split('"')[0]
        r = c.post("/console/sign-in", data={"key": key, "csrf": token}, headers={"Cookie": f"{COOKIE}={cookie}"})
        cookie = r.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        session = {"Cookie": f"{COOKIE}={cookie}"}
        api = f"/v1/tenants/{tenant}/collections/contacts/records?limit=50"
        page = f"/console/t/{tenant}/collections/contacts/records?limit=50"

        def timed(path: str, headers: dict[str, str]) -> list[float]:
            out = []
            for _ in range(args.n):
                t0 = time.perf_counter()
                r = c.get(path, headers=headers)
                out.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (path, r.status_code)
            return out

        timed(api, auth)  # warm both
        timed(page, session)
        for name, samples in (("API GET …/records", timed(api, auth)), ("console records page", timed(page, session))):
            samples.sort()
            p90 = samples[int(len(samples) * 0.9)]
            print(f"{name:24} median {statistics.median(samples):6.2f} ms   p90 {p90:6.2f} ms   (n={len(samples)})")


if __name__ == "__main__":
    main()
