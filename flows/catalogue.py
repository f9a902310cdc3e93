"""The message catalogues: every user-facing sentence, in Bokmål, Nynorsk and English.

The catalogues are gettext files kept with Babel::

    flows/locales/kollega.pot                   the template: every key, extracted from the code
    flows/locales/<language>/LC_MESSAGES/kollega.po   one translation per language
    flows/locales/<language>/LC_MESSAGES/kollega.mo   compiled (by the build; not in git)

A message id is a stable key (``consent.question``), not an English sentence:
Bokmål is the service's first language and English a translation like
Nynorsk, and a key lets a wording change without touching the code. The
English catalogue is the reference for translators; ``#.`` comments in the
template (from ``# TRANSLATORS:`` comments in the code) say what a
placeholder holds. Parameters use ``str.format`` names (``{code}``).

A message that counts (``{hours} timer``) has plural forms: the code names
it with :func:`flows.replies.Plural`, and the language's own rule (Babel's
``Plural-Forms``, from CLDR) picks the form. Dates are written by Babel too
(:class:`flows.replies.Dated`), so no month name is kept by hand.

``make catalogues`` extracts the keys into the template (``pybabel extract``),
updates the three translations (``pybabel update``) and compiles them
(``pybabel compile``); ``make install`` compiles. A ``.po`` newer than its
``.mo`` (a checkout where the build has not run since an edit) is compiled
in memory instead, so an edit is never silently ignored. A key missing from
a language falls back to Bokmål; one missing from Bokmål too is an error.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from flows.replies import Dated, Lines, ParamValue, Text

LANGUAGES = ("nb", "nn", "en")
DEFAULT_LANGUAGE = "nb"
DOMAIN = "kollega"
LOCALES = Path(__file__).parent / "locales"


def catalogue_path(language: str, suffix: str = ".po") -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


@cache
def translations(language: str) -> gettext.GNUTranslations:
    """The compiled catalogue of one language (from its ``.mo``, or its ``.po`` when that is newer)."""
    po, mo = catalogue_path(language), catalogue_path(language, ".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return gettext.GNUTranslations(io.BytesIO(mo.read_bytes()))
    with po.open("rb") as source:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(source, locale=language, domain=DOMAIN))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def lookup(text: Text, language: str) -> str | None:
    """The template for ``text`` in ``language``, or None when that catalogue lacks it."""
    catalogue = translations(language)
    if text.plural:
        count = text.params.get(text.count)
        # 1.5 hours takes the plural, as in "1,5 timer"; a missing count too.
        n = int(count) if isinstance(count, int | float) and count == int(count) else 2
        found = catalogue.ngettext(text.key, text.plural, n)
        return None if found in (text.key, text.plural) else found
    found = catalogue.gettext(text.key)
    return None if found == text.key else found


def render(text: Text | str, language: str) -> str:
    """The sentence for ``text`` in ``language``, parameters filled in."""
    if isinstance(text, str):
        return text
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    template = lookup(text, language)
    if template is None:
        template = lookup(text, DEFAULT_LANGUAGE)
    if template is None:
        raise KeyError(f"no message {text.key!r} in the {DEFAULT_LANGUAGE} catalogue")
    params = {name: _render_param(value, language) for name, value in text.params.items()}
    return template.format(**params)


def language_of(telegram_code: str | None) -> str:
    """Our catalogue for a Telegram ``language_code`` (``nb``, ``no``, ``nn``, ``en-GB``, ...), or ""."""
    primary = (telegram_code or "").replace("_", "-").split("-")[0].casefold()
    if primary in ("nb", "no"):
        return "nb"
    return primary if primary in LANGUAGES else ""


def locale_of(language: str) -> Locale:
    return Locale.parse(language if language in LANGUAGES else DEFAULT_LANGUAGE)


def _render_param(value: ParamValue, language: str) -> str:
    if isinstance(value, Text):
        return render(value, language)
    if isinstance(value, Dated):
        return format_date(value.day, value.pattern, locale=locale_of(language))
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return format_decimal(value, locale=locale_of(language))
    if isinstance(value, Sequence):
        parts = [render(v, language) if isinstance(v, Text) else str(v) for v in value]
        if not parts:
            return render(Text("common.none"), language)
        return "\n".join(parts) if isinstance(value, Lines) else ", ".join(parts)
    return str(value)
