"""The message catalogues: complete in every language, in step with the code, and plural-aware.

Each language's ``.po`` is read as Babel reads it; the template is extracted
again from the code with the Makefile's own options and compared, so a key
used in the code but missing from the catalogues (or left behind after the
code stopped using it) fails here before it fails a user.
"""

from __future__ import annotations

import re
import shlex
import string
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.pofile import read_po

from flows.catalogue import LANGUAGES, LOCALES, catalogue_path, render
from flows.replies import Dated, Plural, Text

ROOT = Path(__file__).resolve().parent.parent


def _read(path: Path, language: str | None = None):
    with path.open("rb") as source:
        return read_po(source, locale=language)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _extract_options() -> list[str]:
    """The Makefile's PYBABEL_EXTRACT options, so the test extracts exactly as the build does."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    line = re.search(r"^PYBABEL_EXTRACT := (.*)$", makefile, re.MULTILINE)
    assert line, "Makefile has no PYBABEL_EXTRACT"
    return shlex.split(line.group(1))


def test_the_template_holds_exactly_the_keys_the_code_uses(tmp_path: Path) -> None:
    pybabel = Path(sys.executable).with_name("pybabel")
    out = tmp_path / "extracted.pot"
    subprocess.run([str(pybabel), *_extract_options(), "--output-file", str(out), "."], cwd=ROOT, check=True, capture_output=True)
    extracted = {m.id for m in _read(out) if m.id}
    committed = {m.id for m in _read(LOCALES / "kollega.pot") if m.id}
    assert extracted - committed == set(), "run `make catalogues`: keys in the code, not in the template"
    assert committed - extracted == set(), "run `make catalogues`: keys in the template the code no longer uses"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    template = {m.id: m for m in _read(LOCALES / "kollega.pot") if m.id}
    reference = {m.id: m for m in _read(catalogue_path("nb"), "nb") if m.id}
    catalogue = {m.id: m for m in _read(catalogue_path(language), language) if m.id}
    assert set(catalogue) == set(template), f"{language}: run `make catalogues`"
    nplurals = Locale.parse(language).plural_form.rules  # CLDR categories besides "other"
    for key, message in catalogue.items():
        assert not message.fuzzy, f"{language} {key} is marked fuzzy"
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(forms), f"{language} {key} is not translated"
        assert message.pluralizable == template[key].pluralizable, f"{language} {key}: plural or not, as in the template"
        if message.pluralizable:
            assert len(forms) == len(nplurals) + 1, f"{language} {key}: {len(forms)} plural forms"
        wanted = reference[key].string
        wanted_fields = set().union(*(_fields(f) for f in (wanted if isinstance(wanted, tuple) else (wanted,))))
        for form in forms:
            assert _fields(form) == wanted_fields, f"{language} {key}: placeholders {_fields(form)} != {wanted_fields}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_header_states_the_languages_own_plural_rule(language: str) -> None:
    catalogue = _read(catalogue_path(language), language)
    assert str(catalogue.locale) == language
    header = dict(catalogue.mime_headers)
    assert header["Plural-Forms"].startswith("nplurals=2;"), header["Plural-Forms"]


@pytest.mark.parametrize(
    ("language", "one", "many"), [("nb", "1 time", "3 timer"), ("nn", "1 time", "3 timar"), ("en", "1 hour", "3 hours")]
)
def test_away_for_one_hour_is_singular_and_for_three_plural(language: str, one: str, many: str) -> None:
    def away(hours: int) -> str:
        return render(Plural("counsellor.away_until", "counsellor.away_until.plural", "hours", {"hours": hours}), language)

    assert one in away(1)
    assert many in away(3)


@pytest.mark.parametrize(("language", "month"), [("nb", "november 2026"), ("nn", "november 2026"), ("en", "November 2026")])
def test_month_names_come_from_babel_in_the_readers_language(language: str, month: str) -> None:
    assert render(Text("stats.month", {"month": Dated(date(2026, 11, 1), "LLLL y")}), language) == month


def test_a_key_missing_everywhere_is_an_error_not_a_raw_key_on_screen() -> None:
    with pytest.raises(KeyError):
        render(Text("no.such.key"), "en")
