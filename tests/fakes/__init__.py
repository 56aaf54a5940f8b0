"""Loopback stand-ins for Telegram and an OpenAI-compatible LLM, for end-to-end tests."""
