"""Rows that many callers insert at once (webhook deliveries), inserted by one statement per batch.

A delivery is one row keyed by its message id. The writer collects the rows of every delivery waiting
in a batch and inserts them with one statement over a JSON array, skipping keys already stored: one
step of the writer thread for the whole batch instead of one GIL round trip per row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson


@dataclass(frozen=True)
class UniqueInsert:
    """How to insert a batch of rows whose first item is a unique key. When fewer rows went in than
    were offered, the ids of all offered keys are read back: with AUTOINCREMENT the `rowcount` largest
    are the rows just inserted (a skipped row still uses an id, so ids are not consecutive)."""

    insert_many: str  # INSERT ... SELECT ... FROM json_each(:rows) ... ON CONFLICT DO NOTHING
    ids_of: str  # SELECT <key>, id ... WHERE <key> IN (SELECT value FROM json_each(:keys))


class BulkRow(Protocol):
    """One caller's row in a batch, and where its answer goes."""

    @property
    def row(self) -> Sequence[Any]: ...

    result: Any
    ok: bool
    error: BaseException | None


def insert_unique(conn: sqlite3.Connection, spec: UniqueInsert, rows: Sequence[BulkRow]) -> None:
    """Insert every row of one spec in arrival order; each row's `result` says whether it went in. A key
    offered twice in one batch is inserted once (the first caller gets True). If the statement fails
    inside a transaction, SQLite undid all of it: these rows fail and the batch's other jobs stand."""
    offered: dict[Any, BulkRow] = {}
    for item in rows:
        item.result = item.row[0] not in offered
        if item.result:
            offered[item.row[0]] = item
    try:
        cur = conn.execute(spec.insert_many, {"rows": orjson.dumps([item.row for item in offered.values()])})
        if cur.rowcount < len(offered):  # some keys were stored already: which went in?
            found = conn.execute(spec.ids_of, {"keys": orjson.dumps(list(offered))}).fetchall()
            found.sort(key=lambda row: row[1], reverse=True)
            inserted = {row[0] for row in found[: cur.rowcount]}
            for key, item in offered.items():
                item.result = key in inserted
        for item in rows:
            item.ok = True
    except sqlite3.Error as exc:
        if not conn.in_transaction:
            raise  # no transaction left to keep the rest of the batch in: it fails as one
        for item in rows:
            item.ok, item.error = False, exc
