"""`kollega stats export` and `kollega purge` as an operator runs them."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from bot.cli.stats import add_commands
from bot.config import Config
from flows.disclosure import EXPORT_COLUMNS
from flows.events import Event, EventKind
from storage.db import create_engine, sessionmaker, upgrade
from storage.repositories import SqlEvents

DOCS = Path(__file__).resolve().parent.parent / "docs" / "statistics.md"


def kollega(config: Config, *argv: str) -> int:
    """Parse like the `kollega` command does, then run the chosen handler."""
    parser = argparse.ArgumentParser(prog="kollega")
    add_commands(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return int(args.func(config, args))


@pytest.fixture
def filled(config: Config) -> Config:
    """A database with November: 12 advice cases in Oslo, 2 way-back cases in Finnmark; and an old event."""

    async def fill() -> None:
        engine = create_engine(config.database_url)
        await upgrade(engine)
        async with sessionmaker(engine).begin() as session:
            # Recorded with the configured secret's keys, as the bot does: the export reads county and role with them.
            events = SqlEvents(session, config.keyring())
            for county, pathway, n in (("oslo", "advice", 12), ("finnmark", "way_back_or_out", 2)):
                for _ in range(n):
                    await events.record(
                        Event(EventKind.CASE_OPENED, pathway=pathway, county=county, role="locum", seeker="self",
                              urgent=False, contact="chat", support_mask=1, barrier_mask=0),
                        datetime(2026, 11, 3, 9),
                    )  # fmt: skip
            await events.record(Event(EventKind.TRIAGE_STARTED), datetime(2020, 1, 6, 9))  # one counter row
        await engine.dispose()

    asyncio.run(fill())
    return config


def test_csv_export_has_the_documented_header_and_hides_small_counties(filled: Config, tmp_path: Path) -> None:
    out = tmp_path / "stats.csv"
    assert kollega(filled, "stats", "export", "--since", "2026-11-01", "--out", str(out)) == 0

    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "plain UTF-8, no BOM"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    documented = re.search(r"```\n(period,.*)\n```", DOCS.read_text(encoding="utf-8"))
    assert documented is not None
    assert tuple(rows[0]) == EXPORT_COLUMNS == tuple(documented.group(1).split(","))

    table = {tuple(row[:5]): (row[5], row[6]) for row in rows[1:]}
    assert table[("2026-11", "case_opened", "all", "all", "count")] == ("14", "false")
    assert table[("2026-11", "case_opened", "county", "finnmark", "count")] == ("", "true")
    assert table[("2026-11", "case_opened", "pathway", "advice", "count")] == ("", "true"), "else finnmark = 14 - 12"
    assert table[("2026-11", "case_opened", "county", "agder", "count")] == ("0", "false"), "configured counties listed"
    assert {row[0] for row in rows[1:]} == {"2026-11"}, "--since keeps 2020 out"


def test_json_export_to_stdout_parses_and_carries_the_same_rows(filled: Config, capsys: pytest.CaptureFixture[str]) -> None:
    assert kollega(filled, "stats", "export", "--format", "json", "--period", "week", "--until", "2026-11-30") == 0

    document = json.loads(capsys.readouterr().out)
    assert document["format"] == "kollega-statistics"
    assert document["period"] == "week"
    assert document["min_cell"] == 5
    assert document["columns"] == list(EXPORT_COLUMNS)
    assert all(list(row) == list(EXPORT_COLUMNS) for row in document["rows"])
    week = {(r["measure"], r["dimension"], r["value"]): r for r in document["rows"] if r["period"] == "2026-W45"}
    assert week[("case_opened", "all", "all")]["result"] == 14
    assert week[("case_opened", "county", "finnmark")] == {
        "period": "2026-W45", "measure": "case_opened", "dimension": "county", "value": "finnmark",
        "statistic": "count", "result": None, "suppressed": True,
    }  # fmt: skip
    assert document["rows"][0]["period"] == "2020-W02", "without --since the export starts at the first event"


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (("--since", "2026-13-01"), "--since"),
        (("--until", "yesterday"), "--until"),
        (("--since", "2026-11-10", "--until", "2026-11-01"), "--until"),
    ],
)
def test_a_bad_date_is_one_line_naming_the_option_and_exit_2(
    filled: Config, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], option: str
) -> None:
    assert kollega(filled, "stats", "export", *argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert option in lines[0]


def test_export_from_a_database_without_tables_says_so_in_one_line(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    assert kollega(config, "stats", "export") == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "no such table" in lines[0]


def test_purge_removes_old_events_and_prints_counts_only(filled: Config, capsys: pytest.CaptureFixture[str]) -> None:
    assert kollega(filled, "purge") == 0
    printed = capsys.readouterr().out
    assert re.search(r"event count rows from before \d{4}-\d{2}-01 deleted: 1$", printed, re.MULTILINE)
    assert "expired drafts deleted: 0" in printed
    assert all(re.fullmatch(r"[a-z ]+(from before [\d-]+ )?[a-z ]*: \d+", line) for line in printed.splitlines())

    assert kollega(filled, "purge") == 0
    assert not re.search(r"deleted: 1\b", capsys.readouterr().out), "a second purge finds nothing more"


def test_commands_take_a_config_option_like_the_rest_of_the_cli() -> None:
    parser = argparse.ArgumentParser(prog="kollega")
    add_commands(parser.add_subparsers())
    assert parser.parse_args(["stats", "export", "--config", "other.toml"]).config == "other.toml"
    assert parser.parse_args(["purge"]).config == "config.toml"
