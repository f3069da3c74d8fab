"""The unit of work: what a job sees inside its transaction.

A job is a plain function `fn(tx, *args)`. It runs synchronously in the database thread, reads and
writes through `tx` (the repository functions in repo/ take it as their first argument), and hands
back events with `tx.emit`: they are published only after the transaction has committed. Callbacks in
`tx.after_commit` run at the same moment, in the event loop's thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Params = Mapping[str, Any] | Sequence[Any]


@dataclass
class Tx:
    conn: sqlite3.Connection
    events: list[Any] = field(default_factory=list)
    after_commit: list[Callable[[], object]] = field(default_factory=list)

    def emit(self, event: Any) -> None:
        self.events.append(event)

    def execute(self, query: str, params: Params = ()) -> sqlite3.Cursor:
        return self.conn.execute(query, params)

    def many(self, query: str, params: Iterable[Params]) -> sqlite3.Cursor:
        return self.conn.executemany(query, params)

    def one(self, query: str, params: Params = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(query, params).fetchone()
        return row

    def all(self, query: str, params: Params = ()) -> list[sqlite3.Row]:
        return self.conn.execute(query, params).fetchall()

    def value(self, query: str, params: Params = ()) -> Any:
        row = self.conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def savepoint(self, name: str) -> None:
        self.conn.execute(f"SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self.conn.execute(f"RELEASE {name}")

    def rollback_to(self, name: str) -> None:
        self.conn.execute(f"ROLLBACK TO {name}")
        self.conn.execute(f"RELEASE {name}")
