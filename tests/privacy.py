"""Scan everything left on disk and in the logs for a doctor's identity or words."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def secrets_of(user_id: int, *texts: str) -> list[str]:
    """What must never be found: the id (as text) and every given name or sentence."""
    return [str(user_id), *texts]


def findings(folder: Path, log_text: str, needles: Iterable[str]) -> list[str]:
    """Every (needle, place) where something identifying was found; [] when clean.

    Looks in every file under ``folder`` (the database with its -wal and -shm
    files, and anything else the run left there), as UTF-8 and UTF-16, and in
    the captured log text.
    """
    needles = [n for n in needles if n]
    found = []
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files, f"nothing to scan in {folder}"
    for path in files:
        content = path.read_bytes()
        for needle in needles:
            for encoded in (needle.encode("utf-8"), needle.encode("utf-16-le")):
                if encoded in content:
                    found.append(f"{needle!r} in {path.name}")
    for needle in needles:
        if needle in log_text:
            found.append(f"{needle!r} in the logs")
    return found
