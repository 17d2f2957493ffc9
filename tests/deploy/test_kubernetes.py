"""The Kubernetes manifests (deploy/kubernetes/): each one valid for current Kubernetes
releases, and the figures that must agree across them, with the image and with the
settings, agree: shutdown timing, probes, the HPA `fundament plan` writes, the connection
budget, least privilege."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from fundament import metering
from fundament.migrations import migrate
from fundament.platform import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
#: The oldest release the major clouds still support, and the newest kubernetes-validate
#: ships schemas for.
KUBERNETES_VERSIONS = ("1.33", "1.37")
#: Listed elsewhere than kustomization.yaml on purpose (see its comment).
NOT_IN_BASE = {"secret.example.yaml", "migrate-job.yaml"}
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
#: PostgreSQL keeps these for superusers; the migration Job takes one connection.
RESERVED_CONNECTIONS = 3 + 1
#: Besides its pool, each process listens for cache invalidations on a connection of its own.
LISTENER_CONNECTIONS = 1


def _load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _all() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in MANIFESTS:
        for doc in _load(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} twice"
            found[key] = doc
    return found


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def _pods() -> dict[str, dict[str, Any]]:
    return {f"{k}/{n}": _pod(doc) for (k, n), doc in _all().items() if k in ("Deployment", "Job")}


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = _pod(doc)["containers"]
    return container


def _settings(container: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the container runs with: defaults, then the ConfigMaps it reads, then its
    own env (a value from a Secret stands in as a placeholder)."""
    manifests = _all()
    for name in list(os.environ):
        if name.startswith("FUNDAMENT_"):
            monkeypatch.delenv(name)
    for source in container.get("envFrom", []):
        data = manifests[("ConfigMap", source["configMapRef"]["name"])]["data"]
        for name, value in data.items():
            monkeypatch.setenv(name, value)
    for var in container.get("env", []):
        monkeypatch.setenv(var["name"], var.get("value", "postgresql://secret@db/placeholder"))
    return Settings()


def _api() -> dict[str, Any]:
    return _all()[("Deployment", "fundament")]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_manifest_is_valid(path: Path, version: str) -> None:
    docs = _load(path)
    assert docs, f"{path.name} holds no manifest"
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_guide_examples_are_valid() -> None:
    """The manifests docs/kubernetes.md shows inline (an Ingress) are held to the same bar."""
    guide = (ROOT / "docs" / "kubernetes.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", guide, flags=re.DOTALL)
    manifests = [doc for block in blocks for doc in yaml.safe_load_all(block) if doc and "apiVersion" in doc]
    assert manifests, "the guide shows an Ingress"
    for doc in manifests:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_kustomization_lists_the_base() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert set(kustomization["resources"]) == {p.name for p in MANIFESTS} - NOT_IN_BASE
    images = {image["name"] for image in kustomization["images"]}
    used = {
        _container(doc)["image"].rpartition(":")[0]
        for doc in _all().values()
        if "template" in doc.get("spec", {})
    }
    assert used == images, "every pod runs the image the kustomization sets"


def test_probes_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    container = _container(_api())
    settings = _settings(container, monkeypatch)
    (port,) = container["ports"]
    assert port["containerPort"] == settings.port
    for probe, path in (
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": port["name"]}, probe
    service = _all()[("Service", "fundament")]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port["name"]]


def test_shutdown_outlasts_the_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pod leaves the endpoints, sleeps in preStop while the proxies catch up, then
    SIGTERM: /readyz 503 for the shutdown delay, in-flight requests drain, exit. The
    kubelet's SIGKILL at the grace period (counted from preStop) must come after all that."""
    container = _container(_api())
    settings = _settings(container, monkeypatch)
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2, command
    pre_stop = float(command[1])
    assert pre_stop > settings.shutdown_delay_seconds
    grace = _pod(_api())["terminationGracePeriodSeconds"]
    assert grace > pre_stop + settings.shutdown_delay_seconds + settings.shutdown_timeout_seconds


def test_hpa_is_what_fundament_plan_writes(fresh_database: str) -> None:
    """hpa.yaml is `fundament plan --hpa-only`'s output for the command in its header, run
    on a database with no capacity measurement (the reference figure) and the built-in
    cost model."""
    header = [
        line for line in (K8S / "hpa.yaml").read_text().splitlines() if line.startswith("#   fundament plan")
    ]
    assert len(header) == 1, "hpa.yaml names the command that wrote it"
    args = shlex.split(header[0].removeprefix("#"))
    assert args[:2] == ["fundament", "plan"] and "--hpa-only" in args
    migrate(fresh_database)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
    env["FUNDAMENT_DATABASE_URL"] = fresh_database
    done = subprocess.run(
        [sys.executable, "-m", "fundament.cli", *args[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (hpa,) = _load(K8S / "hpa.yaml")
    assert hpa == json.loads(done.stdout)
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(json.loads(done.stdout), version, strict=True)


def test_hpa_scales_the_api_and_keeps_one_through_a_disruption() -> None:
    manifests = _all()
    hpa = manifests[("HorizontalPodAutoscaler", "fundament")]
    api = _api()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", "fundament")
    assert "replicas" not in api["spec"], "the HPA owns the replica count"
    pdb = manifests[("PodDisruptionBudget", "fundament")]
    labels = api["spec"]["template"]["metadata"]["labels"]
    for selector in (api["spec"]["selector"], pdb["spec"]["selector"]):
        assert selector["matchLabels"].items() <= labels.items()
    assert manifests[("Service", "fundament")]["spec"]["selector"].items() <= labels.items()
    assert hpa["spec"]["minReplicas"] - pdb["spec"]["maxUnavailable"] >= 1


def test_a_pod_is_one_planned_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    """`fundament plan` counts instances of the cost model's size: one pod must be one."""
    instance = metering.load_cost_model(None).instance
    container = _container(_api())
    assert _settings(container, monkeypatch).workers == instance.workers
    resources = container["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == str(instance.vcpus)


def test_connection_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """At the HPA's maximum, every process's pool and listener, the job worker's and a
    migration's fit PostgreSQL's max_connections; and the pods are told that budget, so one
    that would take more than its share warns at start."""
    manifests = _all()
    config = manifests[("ConfigMap", "fundament")]
    max_connections = int(config["metadata"]["annotations"]["fundament/postgres-max-connections"])
    hpa = manifests[("HorizontalPodAutoscaler", "fundament")]
    api = _settings(_container(_api()), monkeypatch)
    assert api.instances == hpa["spec"]["maxReplicas"]
    assert api.db_connection_budget is not None
    per_process = api.pool_max_size + LISTENER_CONNECTIONS
    assert api.instances * api.workers * per_process <= api.db_connection_budget
    worker_deployment = manifests[("Deployment", "fundament-worker")]
    worker = _settings(_container(worker_deployment), monkeypatch)
    jobs = worker_deployment["spec"]["replicas"] * (worker.pool_max_size + LISTENER_CONNECTIONS)
    used = api.db_connection_budget + jobs + RESERVED_CONNECTIONS
    assert used <= max_connections, f"{used} connections at most, max_connections {max_connections}"


def test_no_migration_at_start_and_no_admin_credentials_where_requests_are_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests = _all()
    job = manifests[("Job", "fundament-migrate")]
    assert _container(job)["args"] == ["migrate"]
    assert _pod(job)["restartPolicy"] == "Never"
    for name in ("fundament", "fundament-worker"):
        container = _container(manifests[("Deployment", name)])
        settings = _settings(container, monkeypatch)
        assert not settings.embedded
        # `fundament serve`'s rule: FUNDAMENT_AUTO_MIGRATE, else only an embedded database.
        assert settings.auto_migrate is False, name
        keys = {var["valueFrom"]["secretKeyRef"]["key"] for var in container["env"] if "valueFrom" in var}
        assert "admin-database-url" not in keys, name
    assert _container(manifests[("Deployment", "fundament")])["args"] == ["serve"]


def test_secret_example_has_every_key_and_no_secret() -> None:
    (secret,) = _load(K8S / "secret.example.yaml")
    used = {
        var["valueFrom"]["secretKeyRef"]["key"]
        for pod in _pods().values()
        for container in pod["containers"]
        for var in container.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }
    assert used == set(secret["stringData"])
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value, f"{key}: a placeholder, never a real secret"


@pytest.mark.parametrize("name", sorted(_pods()))
def test_pod_is_locked_down(name: str, image: Any) -> None:
    pod = _pods()[name]
    uid, _, gid = image.user.partition(":")
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid)), "the image's USER"
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    # A Service named fundament would make Kubernetes set FUNDAMENT_PORT=tcp://…, the port
    # setting's name, in every pod of the namespace.
    assert pod["enableServiceLinks"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][kind].keys(), kind
        # What must be writable on a read-only root: the data directory and /tmp.
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        for path in (image.env["FUNDAMENT_DATA_DIR"], "/tmp"):
            assert path in mounts and "emptyDir" in volumes[mounts[path]], path
