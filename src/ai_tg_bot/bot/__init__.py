"""Telegram-facing layer: handlers, rendering and delivery of replies."""
