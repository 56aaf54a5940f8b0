"""The Mini App's texts: every string the page shows, in the same en/ru catalogs as the
bot's replies. `GET /app/api/me` hands them to the page as `texts` (key -> text in the
user's language); the page's script shows nothing but these.

Placeholders in braces (`{n}`, `{date}`) are filled in by the page.
"""

from __future__ import annotations

from ai_tg_bot.i18n import N_, _

PAGE_TEXTS: dict[str, str] = {
    # The frame: the title, the tabs, loading and errors.
    "title": N_("Assistant"),
    "nav_label": N_("Sections"),
    "nav_conversations": N_("Conversations"),
    "nav_search": N_("Search"),
    "nav_settings": N_("Settings"),
    "nav_usage": N_("Usage"),
    "nav_export": N_("Export"),
    "nav_admin": N_("Admin"),
    "loading": N_("Loading…"),
    "error_unauthorized": N_(
        "Could not sign you in. Close this page and open it again from the bot."
    ),
    "error_forbidden": N_("You don't have access to this."),
    "error_not_found": N_("Not found: it may have been deleted."),
    "error_network": N_("Could not reach the bot. Check your connection and try again."),
    "error_generic": N_("Something went wrong. Please try again."),
    "retry": N_("Try again"),
    "delete": N_("Delete"),
    "save": N_("Save"),
    "saved": N_("Saved."),
    "back": N_("Back to conversations"),
    # Conversations.
    "conversations_heading": N_("Conversations"),
    "conversations_empty": N_("No conversations yet. Send me a message to start one."),
    "untitled": N_("Untitled conversation"),
    "current": N_("current"),
    "messages_count": N_("Messages: {n}"),
    "last_active": N_("Last active: {date}"),
    "make_current": N_("Make current"),
    "is_current": N_("This is your current conversation: new messages go here."),
    "made_current": N_("Done: new messages go to this conversation."),
    "confirm_delete": N_("Delete this conversation? Its messages will be cleared."),
    "deleted": N_("Conversation deleted."),
    "role_user": N_("You"),
    "role_assistant": N_("Assistant"),
    "not_in_context": N_("No longer in the context"),
    "no_messages": N_("No messages."),
    "omitted": N_("Earlier messages not shown here: {n}"),
    "conversation_role": N_("Role: {role}"),
    # Search.
    "search_heading": N_("Search"),
    "search_label": N_("Words to find"),
    "search_button": N_("Search"),
    "search_empty": N_("Nothing found."),
    "search_more": N_("More results"),
    # Settings.
    "settings_heading": N_("Settings"),
    "language_label": N_("Language"),
    "language_auto": N_("As in my Telegram app"),
    "model_label": N_("Model"),
    "role_label": N_("Role of the current conversation"),
    "role_hint": N_("Leave it empty for the default role."),
    "voice_label": N_("Spoken answers"),
    "voice_off": N_("Off"),
    "voice_on": N_("Always"),
    "voice_auto": N_("When I send a voice message"),
    "memory_label": N_("Remember facts about me"),
    "facts_heading": N_("What I remember"),
    "facts_empty": N_("Nothing remembered yet."),
    "delete_fact": N_("Delete: {text}"),
    "confirm_delete_fact": N_("Forget this fact?"),
    # Usage.
    "usage_heading": N_("Usage"),
    "chart_heading": N_("Tokens per day, last 30 days"),
    "chart_summary": N_("Today: {today} tokens; most in a day: {max}."),
    "daily_budget": N_("Daily budget: {n} tokens"),
    "month_heading": N_("This month"),
    "month_used": N_("{used} of {budget} tokens used"),
    "month_unlimited": N_("{used} tokens used, no monthly limit"),
    "credit": N_("Bought tokens left: {n}"),
    "payments_heading": N_("Payments"),
    "payments_empty": N_("No payments yet."),
    "payment_line": N_("{stars} ⭐ for {tokens} tokens"),
    "refunded": N_("refunded"),
    # Export.
    "export_heading": N_("Export"),
    "export_text": N_("Download everything I keep about you: conversations, settings, facts."),
    "export_json": N_("Download JSON"),
    "export_markdown": N_("Download Markdown"),
    "export_done": N_("Downloaded: {name}"),
    # Admin.
    "admin_heading": N_("Administration"),
    "admin_sections": N_("Admin sections"),
    "admin_users": N_("Users"),
    "admin_usage": N_("Usage and cost"),
    "admin_payments": N_("All payments"),
    "user_id_label": N_("User id (empty: recently active)"),
    "find": N_("Find"),
    "no_users": N_("No users found."),
    "user_heading": N_("User {id}"),
    "blocked": N_("blocked"),
    "block": N_("Block"),
    "unblock": N_("Unblock"),
    "today_line": N_("Messages today: {messages}; tokens today: {tokens}"),
    "limit_label": N_("Limit"),
    "limit_default": N_("default"),
    "limit_value": N_("New value: a number, or “default”"),
    "set_limit": N_("Set"),
    "days_label": N_("Days"),
    "show": N_("Show"),
    "col_date": N_("Date"),
    "col_model": N_("Model"),
    "col_prompt": N_("Prompt tokens"),
    "col_completion": N_("Completion tokens"),
    "col_cost": N_("Cost"),
    "no_rows": N_("Nothing in these days."),
    "payment_of": N_("User {user}: {stars} ⭐ for {tokens} tokens"),
    "refund": N_("Refund"),
    "confirm_refund": N_("Refund {stars} ⭐ to user {user}? The tokens bought are taken back."),
    "refund_done": N_("Refunded; {taken} tokens taken back."),
}


def page_texts() -> dict[str, str]:
    """Every text of the page, in the current language."""
    return {key: _(text) for key, text in PAGE_TEXTS.items()}
