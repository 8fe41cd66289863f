"""A small English→French test set and a loopback server that answers it per model: the
reference itself, German, a copy of the source, the instructions echoed, or a judge's score."""

from __future__ import annotations

import re
from typing import Any

from server import FakeServer

from compat_nb.config.presets import Preset

# English source, French reference, German (a wrong-language answer).
TEXTS = [
    (
        "The cat is sleeping on the warm kitchen floor.",
        "Le chat dort sur le sol chaud de la cuisine.",
        "Die Katze schläft auf dem warmen Küchenboden.",
    ),
    (
        "We will meet at the station tomorrow morning.",
        "Nous nous retrouverons à la gare demain matin.",
        "Wir treffen uns morgen früh am Bahnhof.",
    ),
    (
        "Please close the window before you leave the house.",
        "Merci de fermer la fenêtre avant de quitter la maison.",
        "Bitte schließe das Fenster, bevor du das Haus verlässt.",
    ),
    (
        "The library opens at nine o'clock every day.",
        "La bibliothèque ouvre à neuf heures tous les jours.",
        "Die Bibliothek öffnet jeden Tag um neun Uhr.",
    ),
    (
        "My brother bought a new bicycle last week.",
        "Mon frère a acheté un nouveau vélo la semaine dernière.",
        "Mein Bruder hat letzte Woche ein neues Fahrrad gekauft.",
    ),
    (
        "It has been raining in the mountains since Sunday.",
        "Il pleut dans les montagnes depuis dimanche.",
        "Seit Sonntag regnet es in den Bergen.",
    ),
    (
        "The children are playing football in the park.",
        "Les enfants jouent au football dans le parc.",
        "Die Kinder spielen im Park Fußball.",
    ),
    (
        "Could you send me the report before Friday?",
        "Pourriez-vous m'envoyer le rapport avant vendredi ?",
        "Könnten Sie mir den Bericht vor Freitag schicken?",
    ),
]
SOURCES = [source for source, _, _ in TEXTS]
PAIRS = [(source, reference) for source, reference, _ in TEXTS]
FRENCH = {source: reference for source, reference, _ in TEXTS}
GERMAN = {source: german for source, _, german in TEXTS}
ECHO = "You are a translation engine. Translate the user's message into French."
_JUDGED = re.compile(r'translation: "(.*)"\nScore:', re.S)


def user_text(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


def reply(body: dict[str, Any]) -> str:
    """Each model answers in its own way; "half-*" models are right on alternate texts."""
    model, text = body["model"], user_text(body)
    if model == "judge":  # GEMBA-DA prompt in, a score out: high for the reference itself
        found = _JUDGED.search(text)
        answer = found.group(1) if found else ""
        return "Score: 95" if answer in FRENCH.values() else "Score: 30"
    index = SOURCES.index(text) if text in SOURCES else -1
    if model == "good":
        return FRENCH.get(text, "Bonjour.")
    if model == "german":
        return GERMAN.get(text, "Guten Tag.")
    if model == "copy":
        return text
    if model == "echo":
        return ECHO
    if model in ("half-even", "half-odd"):
        right = index % 2 == (0 if model == "half-even" else 1)
        return FRENCH[text] if right else "Le chat est un animal que nous aimons beaucoup."
    return "TRANSLATED: " + text


def serve(server: FakeServer) -> FakeServer:
    server.reply = reply
    return server


def preset(server: FakeServer, model: str, **fields: Any) -> Preset:
    return Preset(model, server.base_url, model, **fields)
