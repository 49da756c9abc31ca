"""config/local_zone.py: which zone local time follows."""

from __future__ import annotations

import os
import zoneinfo
from datetime import datetime, timedelta, timezone

import pytest

from supervisord_lite.config.local_zone import local_timezone

pytestmark = pytest.mark.timeout(10)


def installed(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip(f"time zone {name} is not installed")


def test_tz_names_a_zone(monkeypatch):
    installed("Europe/Berlin")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert str(local_timezone()) == "Europe/Berlin"
    monkeypatch.setenv("TZ", ":America/New_York")  # glibc's leading colon
    installed("America/New_York")
    assert str(local_timezone()) == "America/New_York"


def test_tz_as_a_file_path_follows_dst(monkeypatch):
    installed("Europe/Berlin")
    path = "/usr/share/zoneinfo/Europe/Berlin"
    if not os.path.exists(path):
        pytest.skip(f"{path} is not there")
    monkeypatch.setenv("TZ", path)
    zone = local_timezone()
    winter = datetime(2024, 1, 15, 12, tzinfo=zone).utcoffset()
    summer = datetime(2024, 7, 15, 12, tzinfo=zone).utcoffset()
    assert (winter, summer) == (timedelta(hours=1), timedelta(hours=2))


def test_without_tz_it_reads_etc_localtime(monkeypatch):
    if not os.path.exists("/etc/localtime"):
        pytest.skip("no /etc/localtime here")
    monkeypatch.delenv("TZ", raising=False)
    assert isinstance(local_timezone(), zoneinfo.ZoneInfo)


def test_an_unknown_tz_falls_back_to_a_fixed_offset(monkeypatch):
    monkeypatch.setenv("TZ", "Nowhere/Atlantis")
    assert isinstance(local_timezone(), timezone)
