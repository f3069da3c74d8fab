"""The query loader, and every named query compiles against the migrated schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from twi_overlay.repo.sqlfiles import load_all, parse_queries
from twi_overlay.store.migrate import migrate
from twi_overlay.store.sqlite import connect as connect_sync


def test_sql_loader() -> None:
    q = parse_queries("-- name: a\n-- a comment\nSELECT 1;\n\n-- name: b\nSELECT :x\n")
    assert q == {"a": "SELECT 1", "b": "SELECT :x"}
    with pytest.raises(ValueError, match="defined twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")
    with pytest.raises(ValueError, match="empty"):
        parse_queries("-- name: a\n-- nothing\n")
    every = load_all()
    assert every["queue"].insert.startswith("INSERT INTO queue_entries")


def test_every_named_query_compiles(tmp_path: Path) -> None:
    path = str(tmp_path / "app.db")
    migrate(path)
    conn = connect_sync(path)
    every = load_all()
    for group in every.values():
        for _name, text in group.items():
            conn.execute("EXPLAIN " + text, {k: None for k in _params(text)})


def _params(text: str) -> set[str]:
    import re

    return set(re.findall(r"(?<!:):([A-Za-z_]\w*)", text))
