"""What the settings panel takes out of a field the moment it arrives: a key typed where a
name, a URL, a model id or a literal header value belongs.

Widget state is what a saved notebook carries, so a refused value must not wait for Save.
"""

from __future__ import annotations

from ..config.keys import env_name_problem, starts_like_key
from ..config.presets import env_reference, header_secret_problem

__all__ = ["GUARDED_FIELDS", "field_secret", "header_secret"]

# Panel fields (attribute -> the label the form shows) a key pasted by mistake leaves at once.
GUARDED_FIELDS = {
    "new_name": "Name",
    "base_url": "Base URL",
    "api_key_env": "Use environment variable",
    "model": "Model name",
    "system_prompt": "System prompt",
    "target_language": "Target language",
    "glossary": "Glossary file",
}


def field_secret(name: str, value: str) -> str | None:
    """Why value must leave the field `name` at once, never quoting it; None when it may stay.

    The variable-name field takes only a variable's name (`keys.env_name_problem`); every
    other field refuses a value that starts like a vendor key (`sk-…`, `gsk_…`, `AIza…`)
    followed by 16 or more characters.
    """
    label = GUARDED_FIELDS.get(name, name)
    if name == "api_key_env":
        value = value.strip()
        problem = env_name_problem(env_reference(value) or value) if value else None
        return f"Taken out of '{label}': it {problem}." if problem else None
    if starts_like_key(value):
        return (
            f"That looks like an API key, so it was taken out of '{label}'. Paste it into "
            "'API key (optional)': it is kept apart, in a 0600 credentials file."
        )
    return None


def header_secret(name: str, value: str) -> str | None:
    """Why an extra header's literal value must leave its field (see `header_secret_problem`)."""
    return header_secret_problem(name or "(unnamed)", value)
