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

# Then the project; its migrations ship inside the package (ai_tg_bot/migrations), so the
# bot migrates at start (and `ai-tg-bot migrate` works) without alembic.ini.
COPY README.md ./
COPY src ./src
RUN uv sync --frozen --no-dev \
    && mkdir -p /app/data \
    && chown app:app /app/data

# /app/data holds the SQLite file when DATABASE_URL is left at its default.
USER app
CMD [".venv/bin/ai-tg-bot", "run"]
