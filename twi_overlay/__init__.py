"""twi-overlay: a self-hosted Twitch overlay and EventSub relay."""

__version__ = "0.1.0"
