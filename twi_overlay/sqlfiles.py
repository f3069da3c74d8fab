"""Named queries from the hand-written files in sql/.

Each query sits under a `-- name: <name>` line; everything up to the next such line is its text,
with named `:params`. `sql.queue.insert_entry` is the query `insert_entry` of `sql/queue.sql`.

We load them ourselves rather than with aiosql: our repository functions run synchronously inside
the database thread (a whole batch of commands per thread hop, see db.py), so all we need from a
loader is the text of each query, and this is it.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)


def parse_queries(text: str, origin: str = "<sql>") -> dict[str, str]:
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
        sql = "\n".join(lines).strip().rstrip(";").strip()
        if not sql:
            raise ValueError(f"{origin}: query {name!r} is empty")
        if name in queries:
            raise ValueError(f"{origin}: query {name!r} defined twice")
        queries[name] = sql
    return queries


def load_sql(directory: Path = SQL_DIR) -> SimpleNamespace:
    ns = SimpleNamespace()
    for path in sorted(directory.glob("*.sql")):
        setattr(ns, path.stem, SimpleNamespace(**parse_queries(path.read_text(), str(path))))
    return ns


sql = load_sql()
