"""A tenant created without a plan or region gets the server's defaults, which are settings
(FUNDAMENT_DEFAULT_PLAN, FUNDAMENT_DEFAULT_REGION), checked before the server starts."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from conftest import bearer, serving
from fundament.platform import Settings
from fundament.tenancy import PlansError, load_plans

ROOMY = Path(__file__).parent.parent / "data" / "plans-roomy.toml"


def _plans_without_free(tmp_path: Path) -> Path:
    """The roomy plans with `free` renamed `basic`: a catalogue with no `free` plan."""
    path = tmp_path / "plans.toml"
    path.write_text(ROOMY.read_text().replace("[plans.free]", "[plans.basic]"))
    return path


def test_default_plan_must_be_in_the_catalogue(tmp_path: Path) -> None:
    path = _plans_without_free(tmp_path)
    with pytest.raises(PlansError, match=r"default plan 'free' \(FUNDAMENT_DEFAULT_PLAN\).*basic, pro"):
        load_plans(path)
    assert load_plans(path, default_plan="basic").default == "basic"
    assert load_plans(None).default == "free"
    with pytest.raises(PlansError, match="not among the built-in plans"):
        load_plans(None, default_plan="gold")


def test_default_region_is_checked() -> None:
    with pytest.raises(ValidationError, match="default_region"):
        Settings(default_region="Mars")
    assert Settings(default_region="us-east-2").default_region == "us-east-2"


async def test_tenant_without_plan_or_region_gets_the_defaults(admin_dsn, settings, operator_key, tmp_path):
    overrides = {
        "plans": _plans_without_free(tmp_path),
        "default_plan": "basic",
        "default_region": "us-east-2",
    }
    async with serving(admin_dsn, settings, **overrides) as client:
        op = bearer(operator_key)
        slug = f"dflt-{uuid.uuid4().hex[:8]}"
        r = await client.post("/v1/tenants", json={"name": "D", "slug": slug}, headers=op)
        assert r.status_code == 201, r.text
        assert (r.json()["plan"], r.json()["region"]) == ("basic", "us-east-2")
        # given, they are taken as given
        r = await client.post(
            "/v1/tenants",
            json={"name": "P", "slug": f"{slug}-p", "plan": "pro", "region": "eu-west-1"},
            headers=op,
        )
        assert (r.json()["plan"], r.json()["region"]) == ("pro", "eu-west-1")
        # null is not "absent": the document says the members are not nullable
        for member in ("plan", "region"):
            r = await client.post(
                "/v1/tenants", json={"name": "N", "slug": f"{slug}-n", member: None}, headers=op
            )
            assert r.status_code == 422, (member, r.text)
            assert r.json()["errors"][0]["path"] == f"/{member}"
        r = await client.post(
            "/v1/tenants", json={"name": "F", "slug": f"{slug}-f", "plan": "free"}, headers=op
        )
        assert r.status_code == 422 and "basic" in r.json()["errors"][0]["message"]
        doc = (await client.get("/v1/openapi.json")).json()
        create = doc["components"]["schemas"]["TenantCreate"]["properties"]
        assert create["plan"]["enum"] == ["basic", "enterprise", "pro"]
        assert "null" not in str(create["plan"]) and "FUNDAMENT_DEFAULT_PLAN" in create["plan"]["description"]
        assert create["region"]["pattern"] and "FUNDAMENT_DEFAULT_REGION" in create["region"]["description"]


def test_serve_refuses_to_start_with_a_default_plan_the_plans_lack(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
    env.update(FUNDAMENT_PLANS=str(_plans_without_free(tmp_path)), FUNDAMENT_DATA_DIR=str(tmp_path / "data"))
    for command in ("serve", "worker"):
        out = subprocess.run(
            [sys.executable, "-m", "fundament.cli", command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, (command, out.stderr)
        assert "FUNDAMENT_DEFAULT_PLAN" in out.stderr and "basic" in out.stderr
        assert "Traceback" not in out.stderr
    assert not (tmp_path / "data").exists(), "nothing may start before the check"


async def test_tunables_reach_what_they_tune(admin_dsn, settings):
    from fundament.app import create_app

    tuned = settings.model_copy(
        update={
            "idle_in_transaction_timeout_ms": 12_345,
            "pool_max_idle_seconds": 42.0,
            "collection_cache_ttl_seconds": 7.0,
            "quota_refresh_seconds": 3.0,
            "job_poll_seconds": 0.25,
            "job_lease_seconds": 90.0,
            "job_max_attempts": 3,
        }
    )
    app = create_app(tuned, admin_dsn=admin_dsn)
    async with app.router.lifespan_context(app):
        async with app.services.db.pool.acquire() as conn:
            assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "12345ms"
        worker = app.services.job_worker
        assert (worker.poll_seconds, worker.lease.total_seconds(), worker.max_attempts) == (0.25, 90.0, 3)
        assert app.services.records.cache.ttl_seconds == 7.0
