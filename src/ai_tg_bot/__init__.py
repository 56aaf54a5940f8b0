"""ai-tg-bot: a Telegram bot for OpenAI-compatible LLMs with durable per-user memory."""
