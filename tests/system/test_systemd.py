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
