"""Schema migrations with yoyo (plain SQL files in migrations/, roll forward only)."""

from __future__ import annotations

import logging

from yoyo import get_backend, read_migrations

from twi_overlay import SOURCE_ROOT
from twi_overlay.store.sqlite import connect

MIGRATIONS_DIR = SOURCE_ROOT / "migrations"
log = logging.getLogger(__name__)


def migrate(db_path: str) -> list[str]:
    """Apply every pending migration; returns the ids applied (empty when up to date)."""
    # Put the file in WAL mode before yoyo touches it (journal_mode is persistent).
    connect(db_path).close()
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
