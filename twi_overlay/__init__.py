"""twi-overlay: a self-hosted Twitch overlay and EventSub relay."""

from pathlib import Path

__version__ = "0.1.0"
PACKAGE_DIR = Path(__file__).resolve().parent
# The checkout (or release directory) the package runs from, when it runs from one.
SOURCE_ROOT = PACKAGE_DIR.parent


def data_dir(name: str) -> Path:
    """`sql` or `migrations`: inside the installed package (a wheel ships them there), or at the top of
    the checkout (a source checkout or an editable install)."""
    for candidate in (PACKAGE_DIR / name, SOURCE_ROOT / name):
        if any(candidate.glob("*.sql")):
            return candidate
    raise FileNotFoundError(f"no {name}/*.sql inside the package ({PACKAGE_DIR}) nor beside it ({SOURCE_ROOT})")
