#!/usr/bin/env bash
# Build and run the compose stack for real, wherever a Docker engine runs, even with no
# image registry in reach: the base images are then built locally with debootstrap.
#
#   scripts/docker_smoke.sh            build (bases if missing), start postgres + bot
#                                      against loopback stand-ins for Telegram and the
#                                      LLM, check one answer and the bot's healthcheck,
#                                      stop everything
#   BOT_BASE_IMAGE=python:3.11-slim POSTGRES_IMAGE=postgres:16-alpine scripts/docker_smoke.sh
#                                      the same with registry images, where they can be pulled
#
# Needs: docker (engine + compose plugin or docker-compose), and for local bases root,
# debootstrap and a Debian mirror (MIRROR). Not part of CI: see docs/guides/operations.md.
set -euo pipefail
cd "$(dirname "$0")/.."

MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
LOCAL_BASE=ai-tg-bot-base:${SUITE}
LOCAL_POSTGRES=ai-tg-bot-postgres:${SUITE}
export BOT_BASE_IMAGE=${BOT_BASE_IMAGE:-$LOCAL_BASE}
export POSTGRES_IMAGE=${POSTGRES_IMAGE:-$LOCAL_POSTGRES}
PROJECT=ai-tg-bot-smoke
# Free ports from the OS (another run may hold a fixed one).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
STAND_INS_PORT=${STAND_INS_PORT:-$(free_port)}
# Every wait below gives up after this many seconds.
WAIT_SECONDS=${WAIT_SECONDS:-300}
wait_until() {  # wait_until <what> <command...>: poll once a second, bounded
  local what=$1; shift
  local deadline=$(( $(date +%s) + WAIT_SECONDS ))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "gave up waiting for $what" >&2; return 1; }
    sleep 1
  done
}

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -p "$PROJECT" --env-file .env.development \
      -f docker-compose.yml -f docker/compose.smoke.yml "$@"
  else
    docker-compose -p "$PROJECT" --env-file .env.development \
      -f docker-compose.yml -f docker/compose.smoke.yml "$@"
  fi
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if [ "$BOT_BASE_IMAGE" = "$LOCAL_BASE" ] && ! have_image "$LOCAL_BASE"; then
  echo "== building $LOCAL_BASE with debootstrap ($SUITE from $MIRROR)"
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$rootfs" "$MIRROR" >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - "$LOCAL_BASE" >/dev/null
  rm -rf "$rootfs"
fi
if [ "$POSTGRES_IMAGE" = "$LOCAL_POSTGRES" ] && ! have_image "$LOCAL_POSTGRES"; then
  echo "== building $LOCAL_POSTGRES on $LOCAL_BASE"
  docker build -q -t "$LOCAL_POSTGRES" --build-arg BASE="$LOCAL_BASE" \
    --build-arg MIRROR="$MIRROR" -f docker/postgres.Dockerfile docker >/dev/null
fi

# A TLS-intercepting proxy's CA, trusted while the image is built (git ignores the copies).
EXTRA_CA_DIR=${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
cp "$EXTRA_CA_DIR"/*.crt docker/ca-certificates/ 2>/dev/null || true

echo "== stand-ins for Telegram and the LLM on ports $STAND_INS_PORT and $((STAND_INS_PORT + 1))"
export STAND_INS_PORT STAND_INS_PORT_LLM=$((STAND_INS_PORT + 1))
.venv/bin/python -m scripts.stand_ins --port "$STAND_INS_PORT" --ask "hello from compose" \
  > /tmp/ai-tg-bot-stand-ins.log 2>&1 &
stand_ins=$!
trap 'kill $stand_ins 2>/dev/null || true; compose down -v >/dev/null 2>&1 || true' EXIT
wait_until "the stand-ins" grep -q "ready" /tmp/ai-tg-bot-stand-ins.log

if docker compose version >/dev/null 2>&1; then
  echo "== building and starting the compose stack"
  started=$(date +%s)
  compose up -d --build --wait
  bot_container=$(compose ps -q bot)
else
  # No compose v2 plugin (Debian's docker.io has none, and compose v1 cannot read this
  # compose file): the same two services, networked as compose would, by hand.
  echo "== no 'docker compose': the compose stack's two services with plain docker"
  trap 'kill $stand_ins 2>/dev/null || true; docker rm -f $PROJECT-bot $PROJECT-postgres >/dev/null 2>&1 || true; docker network rm $PROJECT >/dev/null 2>&1 || true' EXIT
  started=$(date +%s)
  docker build -q -t ai-tg-bot:smoke --build-arg BASE="$BOT_BASE_IMAGE" . >/dev/null
  docker network create "$PROJECT" >/dev/null
  docker run -d --name "$PROJECT-postgres" --network "$PROJECT" --network-alias postgres \
    --env-file .env.development "$POSTGRES_IMAGE" >/dev/null
  wait_until "postgres" docker exec "$PROJECT-postgres" pg_isready -q -h 127.0.0.1 -U aitgbot
  # The README's own steps: `cp .env.example .env`, then the token, the key and the model
  # filled in (and, here, the stand-ins' addresses). Nothing else is forced: the image's
  # defaults (HEALTH_PORT among them) must hold with the README's .env.
  smoke_env=$(mktemp)
  cp .env.example "$smoke_env"
  sed -i -e 's|^TELEGRAM_BOT_TOKEN=.*|TELEGRAM_BOT_TOKEN=123456:SMOKE-test-token|' \
    -e 's|^OPENAI_API_KEY=.*|OPENAI_API_KEY=sk-smoke|' -e 's|^LLM_MODEL=.*|LLM_MODEL=fake-model|' \
    "$smoke_env"
  {
    echo "TELEGRAM_API_URL=http://host.docker.internal:$STAND_INS_PORT"
    echo "OPENAI_BASE_URL=http://host.docker.internal:$STAND_INS_PORT_LLM/v1"
  } >> "$smoke_env"
  docker run -d --name "$PROJECT-bot" --network "$PROJECT" \
    --add-host host.docker.internal:host-gateway --env-file .env.development \
    --env-file "$smoke_env" ai-tg-bot:smoke >/dev/null
  bot_container=$PROJECT-bot
  healthy() {
    [ "$(docker inspect --format '{{.State.Running}}' "$bot_container")" = true ] \
      || { docker logs "$bot_container" | tail -20; exit 1; }
    [ "$(docker inspect --format '{{.State.Health.Status}}' "$bot_container")" = healthy ]
  }
  wait_until "a healthy bot container" healthy
fi
echo "== up and healthy (postgres and bot) after $(( $(date +%s) - started )) s"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "ai-tg-bot" || true

echo "== one question through the loopback Telegram"
wait "$stand_ins"
cat /tmp/ai-tg-bot-stand-ins.log
echo "== the bot's own healthcheck: $(docker inspect --format '{{.State.Health.Status}}' "$bot_container")"
docker logs "$bot_container" 2>&1 | tail -5
echo "== smoke run passed"
