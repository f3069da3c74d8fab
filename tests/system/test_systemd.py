"""The systemd units verify with systemd-analyze."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import (
    ROOT,
)
from tests.system.helpers import SCRIPTS, run

pytestmark = pytest.mark.slow


def test_systemd_units_verify(tmp_path: Path) -> None:
    exe = ROOT / ".venv" / "bin" / "twi-overlay"
    for name in ("twi-overlay.service", "twi-overlay-backup.service", "twi-overlay-backup.timer"):
        text = (ROOT / "systemd" / name).read_text()
        # Only what this machine lacks is changed: the install paths and the service user.
        text = (
            text.replace("/opt/twi-overlay/current/.venv/bin/twi-overlay", str(exe))
            .replace("/opt/twi-overlay/current/scripts/backup.sh", str(SCRIPTS / "backup.sh"))
            .replace("User=overlay", "User=root")
            .replace("Group=overlay", "Group=root")
        )
        (tmp_path / name).write_text(text)
    service = (ROOT / "systemd" / "twi-overlay.service").read_text()
    for required in (
        "Restart=always",
        "LimitNOFILE=65535",
        "User=overlay",
        "EnvironmentFile=/etc/twi-overlay/env",
        "After=network-online.target",
        "NoNewPrivileges=true",
    ):
        assert required in service, required
    stop = int(service.split("TimeoutStopSec=")[1].split()[0])
    assert stop > 5  # longer than the app's own shutdown_timeout_secs
    if shutil.which("systemd-analyze"):
        units = [
            str(tmp_path / n) for n in ("twi-overlay.service", "twi-overlay-backup.service", "twi-overlay-backup.timer")
        ]
        result = run(["systemd-analyze", "verify", *units])
        assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr
    else:  # pragma: no cover - equivalent parse check
        import configparser

        for name in ("twi-overlay.service", "twi-overlay-backup.service", "twi-overlay-backup.timer"):
            cp = configparser.ConfigParser(strict=True, interpolation=None)
            cp.read_string((tmp_path / name).read_text())


def _exposure(unit: Path) -> float:
    result = run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)])
    line = next(ln for ln in result.stdout.splitlines() if "Overall exposure level" in ln)
    return float(line.split(":")[1].split()[0])


def test_the_units_are_hardened(tmp_path: Path) -> None:
    """`systemd-analyze security` rates the app's unit 2.0 or lower ("OK") and the backup job's lower still."""
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: run scripts/test-deps.sh"
    for name, limit in (("twi-overlay.service", 2.0), ("twi-overlay-backup.service", 1.0)):
        unit = tmp_path / name
        unit.write_text((ROOT / "systemd" / name).read_text())
        assert _exposure(unit) <= limit, name
