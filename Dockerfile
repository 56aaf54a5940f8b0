# ai-tg-bot: the bot in a container. Build: docker compose build (or docker build .).
FROM python:3.11-slim

ARG UV_VERSION=0.13.9
# Bytecode compiled at build time (the non-root user cannot write __pycache__ later);
# copies instead of hard links; no uv cache left in the image.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --create-home --uid 10001 --user-group app

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the project, installed editable (uv's default): src/ai_tg_bot stays at /app/src, so
# __main__.py finds /app/alembic.ini through Path(__file__).parents[2] and migrates at start.
COPY README.md alembic.ini ./
COPY alembic ./alembic
COPY src ./src
RUN uv sync --frozen --no-dev \
    && mkdir -p /app/data \
    && chown app:app /app/data

# /app/data holds the SQLite file when DATABASE_URL is left at its default.
USER app
CMD [".venv/bin/python", "-m", "ai_tg_bot"]
