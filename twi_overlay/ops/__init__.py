"""Running it for weeks: background jobs and tasks, health, metrics, logs, the pipeline tap, the clock."""
