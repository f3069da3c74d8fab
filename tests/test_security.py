"""Threats, one test each: who gets in, what a credential can do, what lies readable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT
from tests.test_config import GOOD_PROD


@pytest.mark.parametrize("profile", ["stg", "staging", "test", "dev", "prod", "Production", "DEVELOPMENT"])
def test_only_the_two_exact_profiles_start(profile: str) -> None:
    """Anything but `development` or `production` stops start-up: it was read as development, whose
    unauthenticated login makes anyone an admin."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    proc = subprocess.run(
        [sys.executable, "-m", "twi_overlay", "serve"],
        env={**base, **GOOD_PROD, "APP_ENV": profile},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "APP_ENV" in line and "production" in line
