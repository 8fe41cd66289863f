"""The built-in presets: local servers at their documented ports, and the hosted catalog.

Hosted entries name the environment variable that conventionally holds the key, never a key.
"""

from __future__ import annotations

from collections.abc import Mapping

from .presets import LOCAL_PRESET_NAME, Preset

__all__ = ["BUILTIN_PRESETS"]


def _catalog() -> dict[str, Preset]:
    # Hints are prose about the server; the commands that go with them come from advice.py,
    # in the words of the front end where the message is shown.
    local_hint = "the bundled server is not running"
    presets = [
        # Two local servers people start with, and two empty slots for anything else.
        Preset(
            "Ollama",
            "http://localhost:11434/v1",
            "llama3.2",
            hint="start Ollama (`ollama serve`) and pull the model (`ollama pull llama3.2`)",
        ),
        Preset(
            "LM Studio",
            "http://127.0.0.1:1234/v1",
            hint="load a model in LM Studio, start its server, and set its exact id as Model name",
        ),
        Preset("Preset 1"),
        Preset("Preset 2"),
        # Other local servers, at their documented default ports.
        Preset("vLLM", "http://localhost:8000/v1"),
        Preset("llama.cpp", "http://localhost:8080/v1", "default"),
        Preset(LOCAL_PRESET_NAME, hint=local_hint),
        # The hosted catalog: base URL and the variable that conventionally holds the key.
        Preset("OpenAI", "https://api.openai.com/v1", "gpt-4o", api_key_env="OPENAI_API_KEY"),
        Preset(
            "OpenRouter",
            "https://openrouter.ai/api/v1",
            "google/gemini-2.0-flash-001",
            api_key_env="OPENROUTER_API_KEY",
        ),
        Preset(
            "Together",
            "https://api.together.xyz/v1",
            "meta-llama/Llama-3.2-3B-Instruct-Turbo",
            api_key_env="TOGETHER_API_KEY",
        ),
        Preset(
            "Groq",
            "https://api.groq.com/openai/v1",
            "llama-3.1-8b-instant",
            api_key_env="GROQ_API_KEY",
        ),
        Preset(
            "Google AI",
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "gemini-2.0-flash",
            api_key_env="GEMINI_API_KEY",
        ),
        Preset(
            "Cohere",
            "https://api.cohere.com/compatibility/v1",
            "command-r-08-2024",
            api_key_env="COHERE_API_KEY",
        ),
        Preset(
            "DeepSeek",
            "https://api.deepseek.com/v1",
            "deepseek-chat",
            api_key_env="DEEPSEEK_API_KEY",
        ),
        Preset(
            "Mistral",
            "https://api.mistral.ai/v1",
            "mistral-small-latest",
            api_key_env="MISTRAL_API_KEY",
        ),
    ]
    return {p.name: p for p in presets}


BUILTIN_PRESETS: Mapping[str, Preset] = _catalog()
