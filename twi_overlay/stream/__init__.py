"""Out to the browsers: per-broadcaster event ids and replay ring with fan-out (hub.py), the SSE wire
format (wire.py) and the HTTP endpoints (sse.py)."""
