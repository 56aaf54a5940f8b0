# PostgreSQL for scripts/docker_smoke.sh where postgres:16-alpine cannot be pulled: Debian's
# PostgreSQL on a locally built base, initialised from POSTGRES_USER, POSTGRES_PASSWORD and
# POSTGRES_DB like the official image (with pg_isready for the compose healthcheck).
ARG BASE=ai-tg-bot-base:bookworm
FROM ${BASE}
ARG MIRROR=http://deb.debian.org/debian
RUN echo "deb ${MIRROR} bookworm main" > /etc/apt/sources.list \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
