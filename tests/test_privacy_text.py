"""What doctors are told about privacy, and the settings it names: the data controller, the contact, help for doctors."""

from __future__ import annotations

import secrets
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, parse
from flows.catalogue import render
from flows.replies import Text
from flows.settings import DEFAULT_DOCTOR_HELP, DEFAULT_EMERGENCY, DoctorHelp, EmergencyNumber, FlowSettings

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"
SECRET = secrets.token_hex(32)
CONTROLLER = "Stiftelsen Eksempel for legehelse"
CONTACT = "personvern@eksempel.example"

TELEGRAM_SERVERS = {"nb": "Telegrams servere", "en": "Telegram's servers"}
SCREENSHOTS = {"nb": "skjermbilde", "en": "screenshot"}
CONFIDENTIALITY = {"nb": "taushetsplikt", "en": "duty of confidentiality"}


def config(**sections: Any) -> Any:
    """A parsed config with these sections (no token needed, a strong secret given)."""
    return parse({"secrets": {"secret_key": SECRET}, **sections}, env={}, require_token=False)


def privacy_text(settings: FlowSettings, language: str) -> str:
    unset = Text("privacy.controller_unset")
    params = {"controller": settings.data_controller or unset, "contact": settings.privacy_contact or unset}
    return render(Text("privacy.text", params), language)


# ---------------------------------------------------------------------------- the texts


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_privacy_text_names_the_controller_and_the_contact(language: str) -> None:
    text = privacy_text(FlowSettings(data_controller=CONTROLLER, privacy_contact=CONTACT), language)
    assert CONTROLLER in text
    assert CONTACT in text
    assert "{" not in text and "}" not in text, "a placeholder was left unfilled"
    assert len(text) <= 4096, "Telegram's limit for one message"


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_privacy_text_says_what_telegram_keeps_and_what_protection_does_not_stop(language: str) -> None:
    text = privacy_text(FlowSettings(), language)
    assert TELEGRAM_SERVERS[language] in text
    assert SCREENSHOTS[language] in text.lower()
    assert CONFIDENTIALITY[language] in text
    assert "/forget" in text


@pytest.mark.parametrize("language", ["nb", "en"])
def test_without_a_configured_controller_the_text_names_whoever_runs_the_service(language: str) -> None:
    text = privacy_text(FlowSettings(), language)
    assert render(Text("privacy.controller_unset"), language) in text


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_welcome_shows_113_near_the_top_and_points_to_the_crisis_button(language: str) -> None:
    welcome = render(Text("consent.question"), language)
    assert "113" in welcome[:200]
    assert render(Text("crisis.button"), language) in welcome
    assert welcome.rstrip().endswith("?")
    again = render(Text("consent.again"), language)
    assert "113" in again and "/privacy" in again
    assert len(again.splitlines()) <= 3


# ---------------------------------------------------------------------------- [service] data_controller, privacy_contact


def test_the_controller_and_contact_are_read_from_the_service_section() -> None:
    flow = config(service={"data_controller": f"  {CONTROLLER} ", "privacy_contact": CONTACT}).flow
    assert flow.data_controller == CONTROLLER
    assert flow.privacy_contact == CONTACT


def test_without_them_both_are_empty() -> None:
    flow = config().flow
    assert (flow.data_controller, flow.privacy_contact) == ("", "")


@pytest.mark.parametrize("key", ["data_controller", "privacy_contact"])
def test_a_controller_or_contact_that_is_not_a_string_is_a_one_line_error(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(service={key: 42})
    assert caught.value.key == f"service.{key}"
    assert "\n" not in str(caught.value)
    assert "must be a str" in str(caught.value)


# ---------------------------------------------------------------------------- [[doctor_help]]


def test_doctor_help_entries_are_read_in_order() -> None:
    flow = config(
        doctor_help=[
            {"name": "Villa Eksempel", "contact": " 12 34 56 78 ", "nb": "Kurs for leger.", "en": "Courses for doctors."},
            {"name": "Uten kontakt", "nn": "Samtalar for legar."},
        ]
    ).flow
    first, second = flow.doctor_help
    assert first == DoctorHelp("Villa Eksempel", "12 34 56 78", {"nb": "Kurs for leger.", "en": "Courses for doctors."})
    assert first.label("nn") == "Kurs for leger.", "a missing language falls back to the first label given"
    assert second.contact == ""
    assert second.label("en") == "Samtalar for legar."


def test_without_doctor_help_the_defaults_are_used_and_an_empty_list_means_none() -> None:
    assert config().flow.doctor_help == DEFAULT_DOCTOR_HELP
    assert config(doctor_help=[]).flow.doctor_help == ()


@pytest.mark.parametrize(
    ("entries", "key"),
    [
        ({"name": "not a list"}, "doctor_help"),
        (["a string"], "doctor_help[0]"),
        ([{"nb": "Kurs for leger."}], "doctor_help[0].name"),
        ([{"name": "  ", "nb": "Kurs for leger."}], "doctor_help[0].name"),
        ([{"name": "Villa Eksempel"}], "doctor_help[0]"),
        ([{"name": "Villa Eksempel", "nb": "  "}], "doctor_help[0]"),
        ([{"name": "Villa Eksempel", "nb": "Kurs.", "contact": 12345678}], "doctor_help[0].contact"),
        ([{"name": "Villa Eksempel", "nb": 5}], "doctor_help[0].nb"),
        ([{"name": "Villa Eksempel", "nb": "Kurs.", "se": "Kursa."}], "doctor_help[0].se"),
        ([{"name": "A", "nb": "Kurs."}, {"name": "B"}], "doctor_help[1]"),
    ],
)
def test_a_bad_doctor_help_entry_is_an_error_naming_it(entries: Any, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(doctor_help=entries)
    assert caught.value.key == key
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------------------- Nynorsk emergency labels


def test_an_emergency_number_may_have_a_nynorsk_label() -> None:
    (number,) = config(emergency=[{"number": "113", "nn": "Akutt fare"}]).flow.emergency
    assert number.label("nn") == "Akutt fare"


def test_an_emergency_number_without_a_label_names_the_languages() -> None:
    with pytest.raises(ConfigError, match=r"needs a label in nb, nn or en"):
        config(emergency=[{"number": "113"}])


def test_every_default_emergency_number_has_a_label_in_every_language() -> None:
    for number in DEFAULT_EMERGENCY:
        assert set(number.labels) == {"nb", "nn", "en"}, number.number
    for entry in DEFAULT_DOCTOR_HELP:
        assert set(entry.labels) == {"nb", "nn", "en"}, entry.name


# ---------------------------------------------------------------------------- the example config states the defaults


def test_the_example_config_lists_the_default_emergency_numbers_and_doctor_help() -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    languages = ("nb", "nn", "en")
    emergency = tuple(
        EmergencyNumber(e["number"], {lang: e[lang] for lang in languages if lang in e}) for e in example["emergency"]
    )
    doctor_help = tuple(
        DoctorHelp(e["name"], e.get("contact", ""), {lang: e[lang] for lang in languages if lang in e})
        for e in example["doctor_help"]
    )
    assert emergency == DEFAULT_EMERGENCY
    assert doctor_help == DEFAULT_DOCTOR_HELP
    assert example["service"]["data_controller"] == ""
    assert example["service"]["privacy_contact"] == ""


def test_the_example_config_parses_to_the_default_flow_settings() -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    example["secrets"]["secret_key"] = SECRET
    flow = parse(example, env={}, require_token=False).flow
    defaults = FlowSettings()
    assert flow.emergency == defaults.emergency
    assert flow.doctor_help == defaults.doctor_help
    assert (flow.data_controller, flow.privacy_contact) == ("", "")
