"""twi-overlay: a self-hosted Twitch overlay and EventSub relay."""

from pathlib import Path

__version__ = "0.1.0"
# The checkout (or release directory) the package runs from: sql/ and migrations/ live beside it.
SOURCE_ROOT = Path(__file__).resolve().parent.parent
