"""How the background work shares the one event loop and the one writer with webhook ACKs.

Every knob that trades background speed for ACK latency lives here, with the measurement that set it.
ACK latency is a product feature: Twitch revokes subscriptions whose callbacks answer slowly, and a
redemption is acknowledged only after it is stored. The figures are from `bench/webhook.py` on a
2-core VM; docs/performance.md tells how they were reached.
"""

from __future__ import annotations

# -- the writer (store/writer.py) ------------------------------------------------------------------------
# At most this many jobs per write batch. Not a cap on throughput but a way out of a convoy: when one
# batch took every waiting delivery, all 64 connections of a load test ended up in the same batch,
# cycle after cycle, and the event loop sat idle (~15 % of the time) while they committed, then had
# all 64 to answer and read at once. With a cap, a flood splits into batches that alternate: one
# commits while the loop answers and reads the other (the loop's idle time halved). Measured with 64
# connections in A/B runs: +0-20 % deliveries/s; 16, 24 and 48 were worse (more batches, each with
# its own thread hand-offs, or uneven halves).
WRITE_BATCH_MAX = 32

# -- processing stored deliveries (pipeline.py) -------------------------------------------------------------
# While webhook deliveries are arriving, processing works in small chunks and rests
# PROCESS_BUSY_REST_FACTOR times as long as each chunk took (a quarter of the writer's time at most):
# the database thread's Python work holds the GIL, every millisecond it holds it is a millisecond a
# webhook ACK can wait, and its writes are what the checkpoint then has to sync. When deliveries stop,
# it runs flat out. Measured at 200 deliveries/s over a 20,000 backlog on a 180,000-row database
# (ACKs the server timed over 5 ms in 10 s): factor 1 -> 15 and 10, factor 2 -> 4 and 8, factor 3 ->
# 3, 2 and 2, while the backlog still drains at ~400/s, twice that stream.
PROCESS_BUSY_REST_FACTOR = 3
PROCESS_CHUNK_BUSY = 2  # deliveries per chunk while deliveries stream in
PROCESS_CHUNK_IDLE = 32  # ... and once they have stopped
PROCESS_BUSY_WINDOW_SECS = 0.25  # "streaming in" = a delivery was acknowledged this recently
PROCESS_GATHER_SECS = 0.01  # woken while streaming: let a few more gather so one read serves many
PROCESS_YIELD_SECS = 0.05  # before each chunk, wait up to this long for the writer to have nothing queued
# When the writer never went idle in PROCESS_YIELD_SECS, deliveries arrive faster than it commits
# them: every processing write would ride in (and slow) a batch of ACKs. Processing then takes a small
# chunk per PROCESS_SATURATED_REST_SECS so it still moves, and catches up at full speed once the flood
# ends.
PROCESS_SATURATED_REST_SECS = 0.25

# -- SSE fan-out (stream/hub.py) ------------------------------------------------------------------------
# A broadcaster with at most this many streams (its overlays, admin and moderator pages) gets each new frame
# written at once, without a task of its own (stream/hub.py `_kick`).
FANOUT_INLINE_MAX = 8
FANOUT_YIELD_EVERY = 64  # clients written between two yields to the event loop during one fan-out pass
# After a pass, the fan-out rests this many times as long as the pass took (at most FANOUT_MAX_REST_SECS):
# events arriving meanwhile share the next pass, and a busy stream never takes more than a third of the
# event loop from webhook ACKs.
FANOUT_REST_FACTOR = 2.0
FANOUT_MAX_REST_SECS = 0.05
# Heartbeats go out to a slice of the broadcasters at a time, spread over SSE_HEARTBEAT_SECS
# (bench/tenants.py, 5,000 broadcasters with 10,000 streams): all at once held webhook ACKs back by
# 250 ms; 25 slices of 200 broadcasters took a 12-17 ms turn of the loop every second (ACK p99 88 ms);
# slices of 20 every 0.1 s took ~1.5 ms each, which events published meanwhile waited behind (event
# -> client p99 1.3-2x the one-broadcaster figure). One broadcaster per slice, every 5 ms at 5,000.
HEARTBEAT_SLICES = 25  # at least
HEARTBEAT_SLICE_MIN_SECS = 0.005  # shorter intervals (tests, or more broadcasters) put several in a slice

# -- garbage collection (ops/gcsteward.py) -----------------------------------------------------------
# Freeze what the heap holds this often, so a full pass only scans what is newer; unfreeze and collect
# everything this often, so the reference cycles of closed streams are freed. bench/tenants.py, 10,000
# streams, 200 deliveries/s: ACK p99 248 ms without (full passes of up to 400 ms while the streams
# connect), 3.4-5.4 ms with (docs/performance.md "Many tenants").
GC_FREEZE_SECS = 1.0
GC_CLEAN_SECS = 600.0
