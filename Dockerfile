# ai-tg-bot: the bot in a container. Build: docker compose build (or docker build .).
# BASE: any Debian-like image with Python 3.11+ (python3 and python3-venv). Where no
# registry can be reached, build one locally (scripts/docker_smoke.sh does, with
# debootstrap) and pass --build-arg BASE=<that image>.
ARG BASE=python:3.11-slim

# --- build: the dependencies and the project into /app/.venv, with uv ------------------
FROM ${BASE} AS build
ARG UV_VERSION=0.13.9
# Bytecode compiled at build time (the non-root user cannot write __pycache__ later);
# copies instead of hard links; no uv cache left behind.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
# A proxy's CA, if the build has to trust one (docker/ca-certificates/*.crt; none by default).
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null 2>&1 || true
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN python3 -m pip install --no-cache-dir --break-system-packages "uv==${UV_VERSION}" \
    || python3 -m pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first: this layer is rebuilt only when pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN python3 -m uv sync --frozen --no-dev --no-install-project
# Then the project itself, installed as a package (its migrations inside): the image
# needs no source tree and no alembic.ini.
COPY README.md ./
COPY src ./src
RUN python3 -m uv sync --frozen --no-dev --no-editable

# --- run: the venv only, as a non-root user ---------------------------------------------
FROM ${BASE}
ENV PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    HEALTH_PORT=8081
RUN useradd --create-home --uid 10001 --user-group app \
    && mkdir -p /app/data \
    && chown app:app /app/data
COPY --from=build /app/.venv /app/.venv
WORKDIR /app
# /app/data holds the SQLite file when DATABASE_URL is left at its default.
USER app
# /healthz on HEALTH_PORT (polling) or the webhook port: the process serves, not stuck.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["ai-tg-bot", "health"]
CMD ["ai-tg-bot", "run"]
