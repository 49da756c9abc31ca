"""The time zone local time follows, for schedules (cron.py works with any tzinfo).

Apart from cron.py because zoneinfo imports sysconfig: only a daemon with schedules
needs it. Reads files: call it when loading the config, never on the loop.
"""

from __future__ import annotations

import os
import zoneinfo
from datetime import datetime, timezone, tzinfo


def local_timezone() -> tzinfo:
    """``$TZ`` if it names a zone (``Europe/Berlin``, ``:Europe/Berlin`` or a TZif path),
    else /etc/localtime, as the C library reads them.

    Falls back to the current fixed offset, which knows no DST, only when neither can
    be read.
    """
    name = os.environ.get("TZ", "").lstrip(":")
    try:
        if name.startswith("/"):
            with open(name, "rb") as file:
                return zoneinfo.ZoneInfo.from_file(file, key=name)
        if name:
            return zoneinfo.ZoneInfo(name)
        with open("/etc/localtime", "rb") as file:
            return zoneinfo.ZoneInfo.from_file(file, key="localtime")
    except (OSError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        fallback = datetime.now(timezone.utc).astimezone().tzinfo
        assert fallback is not None
        return fallback
