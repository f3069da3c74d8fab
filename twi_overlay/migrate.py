"""Schema migrations with yoyo (plain SQL files in migrations/, roll forward only)."""

from __future__ import annotations

import logging
from pathlib import Path

from yoyo import get_backend, read_migrations

from twi_overlay.db import connect_sync

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
log = logging.getLogger(__name__)


def migrate(db_path: str) -> list[str]:
    """Apply every pending migration; returns the ids applied (empty when up to date)."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    # Put the file in WAL mode before yoyo touches it (journal_mode is persistent).
    connect_sync(db_path).close()
    backend = get_backend("sqlite:///" + db_path)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        applied = [m.id for m in pending]
        if applied:
            backend.apply_migrations(pending)
            log.info("migrations applied", extra={"migrations": applied})
    backend.connection.close()
    return applied
