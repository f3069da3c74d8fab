"""Domain: pure decisions (policy, settings) and state changes (commands) over a write transaction."""
