"""Schema migrations with yoyo (plain SQL files in migrations/, roll forward only)."""

from __future__ import annotations

import logging

from yoyo import get_backend, read_migrations

from twi_overlay import data_dir
from twi_overlay.store.sqlite import connect

MIGRATIONS_DIR = data_dir("migrations")
log = logging.getLogger(__name__)


def migrate(db_path: str) -> list[str]:
    """Apply every pending migration; returns the ids applied (empty when up to date)."""
    # Put the file in WAL mode before yoyo touches it (journal_mode is persistent).
    connect(db_path).close()
    migrations = read_migrations(str(MIGRATIONS_DIR))
    if not migrations:  # an empty schema is never a success
        raise FileNotFoundError(f"no migrations in {MIGRATIONS_DIR}")
    backend = get_backend("sqlite:///" + db_path)
    with backend.lock():
        pending = backend.to_apply(migrations)
        applied = [m.id for m in pending]
        if applied:
            backend.apply_migrations(pending)
            log.info("migrations applied", extra={"migrations": applied})
    backend.connection.close()
    return applied
