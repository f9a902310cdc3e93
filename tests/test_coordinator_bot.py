"""Coordinators in the bot: the queue and the statistics, never identities.

A handful of scripted cases (docs/design.md section 8) and what a coordinator then
gets from the bot and from the command line."""

from __future__ import annotations

import asyncio
import csv
import io
import json

from bot.cli import main as kollega
from tests.scenarios import ACCEPT, ADVICE, NOT_COPING, WAY_BACK, add_coordinator, add_counsellor, triage, walk


async def _handful_of_cases(harness):
    """Six advice cases and one of each other pathway; Anna accepts the first two."""
    anna = await add_counsellor(harness, 9001, "Anna", capacity=10)
    codes = {}
    for i in range(6):
        codes[f"advice{i}"] = await triage(harness, harness.user(5300 + i, f"Lege{i}"), ADVICE)
    codes["not_coping"] = await triage(harness, harness.user(5310, "Ola"), NOT_COPING)
    codes["way_back"] = await triage(harness, harness.user(5311, "Per"), WAY_BACK)
    for label in (ACCEPT, ACCEPT):
        await walk(harness, anna, label)
    return codes, anna


async def test_queue_shows_open_cases_by_state_and_age_without_identities(harness) -> None:
    kim = await add_coordinator(harness, 8001)
    codes, _ = await _handful_of_cases(harness)
    harness.clock.advance(hours=3)
    await harness.feed(kim.send_command("/queue"))
    queue = harness.said(kim)[-1].text
    for code in codes.values():
        assert code in queue
    assert "pågår" in queue and ("tilbudt" in queue or "i kø" in queue)
    assert "3 t" in queue
    for name in ("Lege0", "Ola", "Per", "Anna", "5300"):
        assert name not in queue


async def test_stats_answers_with_a_summary_a_csv_and_a_chart(harness) -> None:
    kim = await add_coordinator(harness, 8001)
    await _handful_of_cases(harness)
    await harness.feed(kim.send_command("/stats month"))
    summary, document, chart = harness.said(kim)[-3:]
    assert "Statistikk for november 2026" in summary.text
    assert "Nye saker: 8" in summary.text
    assert "• Råd i en krevende situasjon: 6" in summary.text
    assert "• Redd for ikke å klare mer: skjult" in summary.text  # 1 case: suppressed
    assert document.method == "sendDocument" and document.file_name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(document.file_bytes.decode("utf-8"))))
    opened = {(r["dimension"], r["value"]): r for r in rows if r["period"] == "2026-11" and r["measure"] == "case_opened"}
    assert opened[("all", "all")]["result"] == "8"
    assert opened[("pathway", "advice")]["result"] == "6"
    assert opened[("pathway", "not_coping")]["suppressed"] == "true" and opened[("pathway", "not_coping")]["result"] == ""
    assert chart.method == "sendPhoto" and chart.file_bytes.startswith(b"\x89PNG")


async def test_stats_and_queue_are_refused_to_counsellors(harness) -> None:
    _, anna = await _handful_of_cases(harness)
    for command in ("/stats", "/queue"):
        await harness.feed(anna.send_command(command))
        reply = harness.said(anna)[-1]
        assert "bare for koordinatorer" in reply.text and reply.method == "sendMessage"


async def test_the_command_line_export_matches_what_happened(harness, config, tmp_path, capsys) -> None:
    await _handful_of_cases(harness)
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        f'[secrets]\nsecret_key = "{config.secret_key}"\n[database]\nurl = "{config.database_url}"\n', encoding="utf-8"
    )
    out_csv, out_json = tmp_path / "stats.csv", tmp_path / "stats.json"
    # The command runs its own event loop, so it runs beside this test's, as from a shell.
    assert await asyncio.to_thread(kollega, ["stats", "export", "--config", str(config_file), "--out", str(out_csv)]) == 0
    export_json = ["stats", "export", "--config", str(config_file), "--format", "json", "--out", str(out_json)]
    assert await asyncio.to_thread(kollega, export_json) == 0
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8"))))
    total = next(r for r in rows if (r["measure"], r["dimension"], r["statistic"]) == ("case_opened", "all", "count"))
    assert (total["period"], total["result"], total["suppressed"]) == ("2026-11", "8", "false")
    accepted = next(r for r in rows if (r["measure"], r["dimension"]) == ("case_accepted", "all"))
    assert accepted["suppressed"] == "true"  # 2 acceptances: fewer than 5
    document = json.loads(out_json.read_text(encoding="utf-8"))
    as_json = {(r["period"], r["measure"], r["dimension"], r["value"], r["statistic"]): r for r in document["rows"]}
    assert as_json[("2026-11", "case_opened", "pathway", "advice", "count")]["result"] == 6
    assert as_json[("2026-11", "case_opened", "pathway", "way_back_or_out", "count")]["result"] is None
