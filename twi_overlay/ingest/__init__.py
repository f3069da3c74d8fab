"""The doors Twitch knocks on: the EventSub webhook (webhook.py) and the protocol facts every door
shares (eventsub.py: signatures, timestamps, message and subscription types, payload normalisation)."""
