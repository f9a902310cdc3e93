"""The message catalogues: every user-facing sentence, in nb and en.

Catalogues are TOML files in ``flows/locales/<language>/``, one file per part
of the service, merged into one catalogue per language. Keys are dotted paths
(``consent.text``). Parameters use ``str.format`` names. A missing key in a
language falls back to Bokmål so a half-translated string never crashes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from flows.replies import Lines, ParamValue, Text

LANGUAGES = ("nb", "en")
DEFAULT_LANGUAGE = "nb"


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = str(value)
    return flat


@cache
def catalogue(language: str) -> dict[str, str]:
    """All entries of one language, flattened to dotted keys."""
    folder = resources.files("flows") / "locales" / language
    entries: dict[str, str] = {}
    for source in sorted(folder.iterdir(), key=lambda f: f.name):
        if source.name.endswith(".toml"):
            entries.update(_flatten(tomllib.loads(source.read_text(encoding="utf-8"))))
    return entries


def render(text: Text | str, language: str) -> str:
    """The sentence for ``text`` in ``language``, parameters filled in."""
    if isinstance(text, str):
        return text
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    template = catalogue(language).get(text.key)
    if template is None:
        template = catalogue(DEFAULT_LANGUAGE)[text.key]
    params = {name: _render_param(value, language) for name, value in text.params.items()}
    return template.format(**params)


def _render_param(value: ParamValue, language: str) -> str:
    if isinstance(value, Text):
        return render(value, language)
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        parts = [render(v, language) if isinstance(v, Text) else str(v) for v in value]
        if not parts:
            return render(Text("common.none"), language)
        return "\n".join(parts) if isinstance(value, Lines) else ", ".join(parts)
    return str(value)
