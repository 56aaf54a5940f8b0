"""Middlewares: per-user ordering of updates, and Telegram flood-control retries."""
