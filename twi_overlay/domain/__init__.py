"""The rules: commands on a broadcaster's queue, counters, settings and rewards. No HTTP here.

`runner.execute` runs one command in the caller's write transaction and returns a typed outcome
(`outcomes.Handled` or `outcomes.Refused`); the web edge maps outcomes to HTTP statuses. Each
aggregate module (queue, counters, settings, rewards, broadcasters, redemptions) holds its handlers and
exports them in `COMMANDS`; `state` is the read model (the snapshot); `policy` decides what a Twitch
redemption becomes; `events` builds what goes out to the streams.
"""
