"""The database: SQLite in WAL mode behind one writer thread, one reader thread and a checkpointer.

`Database` (database.py) is the door the rest of the app uses: `write(fn, *args)` runs `fn(tx, *args)`
in a write transaction, `read(fn, *args)` in a read transaction, `insert_unique` stores webhook
deliveries. The jobs are split by module: `tx.py` (what a job sees), `writer.py` (the batching
writer), `bulk.py` (many callers' rows in one INSERT), `wal.py` (checkpoint policy), `thread.py` (a
connection that owns its thread), `sqlite.py` (PRAGMAs and plain connections), `migrate.py` (yoyo).
"""
