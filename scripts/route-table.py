#!/usr/bin/env python3
"""Write docs/routes.md: every route the app registers, with who may call it (twi_overlay/web/guards.py).

python scripts/route-table.py          # rewrite docs/routes.md
python scripts/route-table.py --check  # exit 1 when docs/routes.md differs (what the test checks)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twi_overlay.app import create_app  # noqa: E402
from twi_overlay.config import load_settings  # noqa: E402
from twi_overlay.web.guards import markdown_table  # noqa: E402

HEAD = """# Routes and who may call them

Generated from the app by `make docs` (scripts/route-table.py) and the guards in
`twi_overlay/web/guards.py`; a test fails when a route has no entry. What each route takes and answers
is in [api.md](api.md).

"""


def table() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        # Twitch configured, so its routes are registered too; nothing is started or written.
        env = {
            "APP_ENV": "development",
            "DATABASE_URL": f"sqlite://{tmp}/routes.db",
            "TWITCH_CLIENT_ID": "route-table",
            "TWITCH_CLIENT_SECRET": "route-table",
            "WEBHOOK_SECRET": "route-table-secret",
            "SSE_TOKEN_SIGNING_KEY": "route-table-signing-key",
        }
        return HEAD + markdown_table(create_app(load_settings(env)))


def main() -> int:
    path = ROOT / "docs" / "routes.md"
    wanted = table()
    if "--check" in sys.argv[1:]:
        if not path.exists() or path.read_text() != wanted:
            print("docs/routes.md is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
