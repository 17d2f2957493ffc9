# syntax=docker/dockerfile:1
#
# Fundament's server image. Configured by FUNDAMENT_* environment variables only (the
# README's Configuration table); nothing is read from files the image does not ship.
#
#   docker build -t fundament .
#   docker run --rm -e FUNDAMENT_DATABASE_URL=postgresql://admin:…@db/fundament fundament migrate
#   docker run -p 8000:8000 -e FUNDAMENT_DATABASE_URL=… -e FUNDAMENT_MASTER_KEY=… fundament
#
# Migrations are their own command, run once per release (Kubernetes: the Job in
# deploy/kubernetes/). `fundament serve` runs none against an external database
# (FUNDAMENT_AUTO_MIGRATE is on only for the embedded one), so replicas never race to.
#
# Images are not built in CI: .ci/run lints this file with hadolint, and
# tests/deploy/test_image.py runs its ENTRYPOINT, CMD and HEALTHCHECK from the wheel.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the wheel, and a virtual environment holding it and its dependencies ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src/ src/
# Every dependency publishes binary wheels (amd64 and arm64), so no compiler is needed here
# either; should one ever be, its apt-get belongs in this stage, never in the final one.
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /dist . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir /dist/fundament-*.whl

# --- runtime: the virtual environment, run by an unprivileged user ---
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="Fundament" \
      org.opencontainers.image.description="Self-hostable multi-tenant backend for B2B SaaS" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric id: Kubernetes' runAsNonRoot can only verify a numeric USER.
RUN groupadd --system --gid 10001 fundament \
    && useradd --system --uid 10001 --gid fundament --no-create-home \
       --home-dir /var/lib/fundament --shell /usr/sbin/nologin fundament \
    && install -d -o fundament -g fundament -m 0700 /var/lib/fundament

COPY --from=build /opt/venv /opt/venv

# The data directory holds the metrics files of a multi-worker server (and, without
# FUNDAMENT_DATABASE_URL, a trial's embedded PostgreSQL and master.key): give it a volume
# (Kubernetes: an emptyDir) when the root filesystem is read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/fundament \
    FUNDAMENT_DATA_DIR=/var/lib/fundament \
    FUNDAMENT_HOST=0.0.0.0 \
    FUNDAMENT_PORT=8000

USER 10001:10001
WORKDIR /var/lib/fundament
EXPOSE 8000

# The slim base has no curl: the image's own Python asks. Set the port by FUNDAMENT_PORT
# (not `serve --port`), so this check follows it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FUNDAMENT_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["fundament"]
CMD ["serve"]
