"""Named queries from the hand-written files in sql/, for the repository modules beside this one.

Each query sits under a `-- name: <name>` line; everything up to the next such line is its text, with
named `:params`. `load("queue").insert` is the query `insert` of `sql/queue.sql`. Only repo/ imports
this module: the rest of the app reaches SQL through repository functions.

We load them ourselves rather than with aiosql: repository functions run synchronously inside the
database thread (a whole batch of commands per thread hop, see store/writer.py), so all we need from
a loader is each query's text, and this is it.
"""

from __future__ import annotations

import re
from pathlib import Path

from twi_overlay import data_dir

SQL_DIR = data_dir("sql")
_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)


class Queries:
    """The queries of one file, as attributes."""

    def __init__(self, origin: str, queries: dict[str, str]):
        self._origin = origin
        self._queries = queries
        self.__dict__.update(queries)  # a plain attribute lookup on every query: no call on the hot path

    def __getattr__(self, name: str) -> str:  # only reached for a name that is not a query
        raise AttributeError(f"{self._origin} has no query {name!r}")

    def items(self) -> list[tuple[str, str]]:
        return list(self._queries.items())


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


def load(name: str, directory: Path = SQL_DIR) -> Queries:
    path = directory / f"{name}.sql"
    return Queries(str(path), parse_queries(path.read_text(), str(path)))


def load_all(directory: Path = SQL_DIR) -> dict[str, Queries]:
    return {path.stem: load(path.stem, directory) for path in sorted(directory.glob("*.sql"))}
