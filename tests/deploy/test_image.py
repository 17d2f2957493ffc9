"""The Dockerfile, without building an image (these machines reach no registry of base
images): its build stage's RUN line builds and installs the wheel from exactly the files it
copies, and the final stage's ENTRYPOINT, CMD and HEALTHCHECK run from that installation,
read from the Dockerfile so the test cannot drift from it. hadolint (in .ci/run) lints the
rest; the rules it does not know are checked here."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from dockerfile_parse import DockerfileParser

from fundament.app import app_dsn
from fundament.platform import Settings

ROOT = Path(__file__).resolve().parents[2]
#: Where the Dockerfile puts the virtual environment and the wheel; the test maps them.
IMAGE_VENV = "/opt/venv"
IMAGE_DIST = "/dist"
SECRET_SETTINGS = (
    "FUNDAMENT_DATABASE_URL",
    "FUNDAMENT_APP_DATABASE_URL",
    "FUNDAMENT_APP_DB_PASSWORD",
    "FUNDAMENT_MASTER_KEY",
    "FUNDAMENT_METRICS_TOKEN",
    "FUNDAMENT_REDIS_URL",
)


def test_entry_point_is_fundament_serve(image) -> None:
    assert image.command_line == ["fundament", "serve"]


def test_runs_as_a_fixed_non_root_user(image) -> None:
    # Numeric, so Kubernetes' runAsNonRoot can verify it; and the manifests' runAsUser.
    uid, _, gid = image.user.partition(":")
    assert uid.isdigit() and int(uid) > 0, image.user
    assert gid.isdigit() and int(gid) > 0, image.user


def test_configured_by_environment_only(image) -> None:
    assert image.env["FUNDAMENT_HOST"] == "0.0.0.0"
    baked = [name for name in SECRET_SETTINGS if name in image.env]
    assert not baked, f"the image must not carry a database or a secret: {baked}"
    # Replicas must not migrate at start: off by default with an external database, and
    # the image must not switch it on.
    assert image.env.get("FUNDAMENT_AUTO_MIGRATE", "false").lower() in ("false", "0", "off", "no")
    unknown = [
        name
        for name in image.env
        if name.startswith("FUNDAMENT_")
        and name.removeprefix("FUNDAMENT_").lower() not in Settings.model_fields
    ]
    assert not unknown, f"ENV names no setting: {unknown}"
    # Nothing but the build stage's virtual environment is copied in: no configuration file.
    copies = [value for instruction, value in image.instructions if instruction in ("COPY", "ADD")]
    assert copies and all(value.startswith("--from=build ") for value in copies), copies


def test_final_stage_has_no_compiler(image) -> None:
    runs = " ".join(value for instruction, value in image.instructions if instruction == "RUN")
    for tool in ("apt-get", "gcc", "g++", "build-essential", "clang", "make "):
        assert tool not in runs, f"the final stage installs {tool!r}: build in the build stage"


def test_build_context_holds_what_the_build_copies() -> None:
    allowed = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert "*" in allowed, ".dockerignore is an allow-list: it starts by excluding everything"
    for source in _build_stage_copies():
        assert (ROOT / source).exists(), source
        assert f"!{source}" in allowed, f"{source} is copied but .dockerignore does not let it in"


def _build_stage() -> list[tuple[str, str]]:
    structure = DockerfileParser(str(ROOT / "Dockerfile")).structure
    starts = [i for i, item in enumerate(structure) if item["instruction"] == "FROM"]
    assert len(starts) >= 2, "the Dockerfile must be multi-stage"
    build = [(item["instruction"], item["value"]) for item in structure[starts[0] : starts[-1]]]
    assert build[0][1].endswith(" AS build"), build[0]
    return build


def _build_stage_copies() -> list[str]:
    sources: list[str] = []
    for instruction, value in _build_stage():
        if instruction == "COPY":
            sources.extend(value.split()[:-1])
    return sources


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image's /opt/venv, made here: the build stage's files copied into a context of
    their own, and its RUN line run there with the image's paths mapped to temporary ones."""
    base = tmp_path_factory.mktemp("image")
    context, venv, dist = base / "src", base / "venv", base / "dist"
    context.mkdir()
    for instruction, value in _build_stage():
        if instruction != "COPY":
            continue
        *sources, dest = value.split()
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(
                    path, context / dest, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]")
                )
            else:
                shutil.copy2(path, context / dest / path.name)
    (run,) = [value for instruction, value in _build_stage() if instruction == "RUN"]
    script = run.replace(IMAGE_VENV, str(venv)).replace(IMAGE_DIST, str(dist))
    # `python` is the base image's interpreter there; this test's here.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-ec", script], cwd=context, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, (
        f"the build stage's RUN failed:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    )
    assert (venv / "bin" / "fundament").exists()
    return venv


def _container_env(image, venv: Path, home: Path, **settings: str) -> dict[str, str]:
    """The image's environment with its paths mapped here, and nothing of the caller's
    FUNDAMENT_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
    env.update({k: v.replace(IMAGE_VENV, str(venv)) for k, v in image.env.items()})
    env["PATH"] = f"{venv}/bin:{os.environ['PATH']}"
    env["HOME"] = env["FUNDAMENT_DATA_DIR"] = str(home)
    env.update(settings)
    return env


@pytest.mark.slow
@pytest.mark.parametrize("what", ["entry-point", "migrate"])
def test_command_lines_work_from_the_installed_wheel(
    image, image_venv: Path, tmp_path: Path, what: str
) -> None:
    command = image.command_line if what == "entry-point" else [*image.entrypoint, "migrate"]
    done = subprocess.run(
        [*command, "--help"],
        env=_container_env(image, image_venv, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert ("Run the API server" if what == "entry-point" else "Bring the database schema") in done.stdout


def _healthcheck(image, env: dict[str, str], cwd: Path) -> int:
    check = image.healthcheck
    try:
        return subprocess.run(
            check.command, env=env, cwd=cwd, capture_output=True, timeout=check.seconds("timeout")
        ).returncode
    except subprocess.TimeoutExpired:
        return -1


def _schema_exists(admin: str) -> bool:
    with psycopg.connect(admin) as conn:
        return conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone() == (True,)


@pytest.mark.slow
def test_a_release_as_the_image_runs_it(
    image, image_venv: Path, admin_dsn: str, fresh_database: str, tmp_path: Path
) -> None:
    """Pods start before the migration (as in a rollout): healthy but not ready, nothing
    migrated; `fundament migrate` makes them ready without a restart; SIGTERM stops them.
    (admin_dsn: the suite's migrated database, so the fundament_app role exists.)"""
    from servers import free_port

    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    # The request path's role only, as the Deployment gives it: these pods cannot migrate.
    app = app_dsn(Settings(app_database_url=None, app_db_password=None), fresh_database)
    env = _container_env(
        image,
        image_venv,
        home,
        # The image listens on every interface; a test on a shared machine, on loopback only.
        FUNDAMENT_HOST="127.0.0.1",
        FUNDAMENT_PORT=str(port),
        FUNDAMENT_DATABASE_URL=app,
        FUNDAMENT_APP_DATABASE_URL=app,
        FUNDAMENT_MASTER_KEY="test-master-key",
        FUNDAMENT_WORKER="false",
    )
    readyz = f"http://127.0.0.1:{port}/readyz"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(image.command_line, env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT)
    try:
        # As Docker does: the check, every half second here, until the start period ends.
        deadline = time.monotonic() + image.healthcheck.seconds("start-period")
        while _healthcheck(image, env, home) != 0:
            assert server.poll() is None, f"serve exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"HEALTHCHECK never passed:\n{log.read_text()}"
            time.sleep(0.5)
        not_yet = httpx.get(readyz, timeout=5)
        assert not_yet.status_code == 503, not_yet.text
        assert not _schema_exists(fresh_database), "serve migrated at start"

        migrate = {**env, "FUNDAMENT_DATABASE_URL": fresh_database}
        del migrate["FUNDAMENT_APP_DATABASE_URL"]
        done = subprocess.run(
            [*image.entrypoint, "migrate"], env=migrate, cwd=home, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert _schema_exists(fresh_database)
        deadline = time.monotonic() + 30
        while (answer := httpx.get(readyz, timeout=5)).status_code != 200:
            assert time.monotonic() < deadline, f"not ready after the migration: {answer.text}"
            time.sleep(0.2)

        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0, log.read_text()
        assert _healthcheck(image, env, home) != 0, "HEALTHCHECK passes with no server"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    assert "migrat" not in log.read_text().lower(), log.read_text()
