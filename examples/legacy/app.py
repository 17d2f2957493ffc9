"""A legacy application to strangle: a customers API the way monoliths have one (Flask).

Run it: ``flask --app examples/legacy/app.py run --port 5000``. Its answers carry what
legacy answers carry: a ``served_at`` time and a ``request_id`` that differ on every call
(noise the gateway learns), and a v2 customer route that calls ``name`` ``full_name`` (the
difference a shadow comparison has to find). ``/api/export?mb=N`` streams N MiB.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, abort, jsonify, request

SEED = [
    {"customer_id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "tier": "gold"},
    {"customer_id": 2, "name": "Grace Hopper", "email": "grace@example.com", "tier": "silver"},
    {"customer_id": 3, "name": "Edsger Dijkstra", "email": "edsger@example.com", "tier": "bronze"},
]


def create_app() -> Flask:
    app = Flask("legacy")
    customers: dict[int, dict[str, Any]] = {c["customer_id"]: dict(c) for c in SEED}
    lock = threading.Lock()

    def stamped(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "served_at": datetime.now(UTC).isoformat(), "request_id": uuid.uuid4().hex}

    @app.get("/api/customers")
    def list_customers() -> Any:
        with lock:
            return jsonify([stamped(c) for c in sorted(customers.values(), key=lambda c: c["customer_id"])])

    @app.get("/api/customers/<int:customer_id>")
    def get_customer(customer_id: int) -> Any:
        with lock:
            found = customers.get(customer_id)
        if found is None:
            abort(404)
        return jsonify(stamped(found))

    @app.get("/api/v2/customers/<int:customer_id>")
    def get_customer_v2(customer_id: int) -> Any:
        with lock:
            found = customers.get(customer_id)
        if found is None:
            abort(404)
        renamed = {("full_name" if k == "name" else k): v for k, v in found.items()}
        return jsonify(stamped(renamed))

    @app.post("/api/customers")
    def create_customer() -> Any:
        body = request.get_json(force=True)
        with lock:
            new_id = max(customers, default=0) + 1
            customers[new_id] = {"customer_id": new_id, **body}
            created = customers[new_id]
        return jsonify(created), 201

    @app.get("/api/orders")
    def orders() -> Any:
        return jsonify([{"order_id": 100, "customer_id": 1, "total": 42.5}])

    @app.get("/api/slow")
    def slow() -> Any:
        time.sleep(float(request.args.get("seconds", "1")))
        return jsonify({"slept": True})

    @app.get("/api/headers")
    def headers() -> Any:
        return jsonify({k.lower(): v for k, v in request.headers.items()})

    @app.get("/api/export")
    def export() -> Response:
        mib = int(request.args.get("mb", "1"))
        chunk = b"x" * (1 << 16)

        def stream() -> Iterator[bytes]:
            for _ in range(mib * 16):
                yield chunk

        return Response(
            stream(), mimetype="application/octet-stream", headers={"Content-Length": str(mib << 20)}
        )

    @app.post("/api/echo")
    def echo() -> Response:
        # Reads the body as it comes, as an upload endpoint would: its size and nothing else.
        size = 0
        while True:
            chunk = request.stream.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
        return jsonify({"received": size})

    return app


app = create_app()
