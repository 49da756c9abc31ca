"""The child record is never removed while a child on it still runs."""

from __future__ import annotations

import json
import subprocess

import pytest

from supervisord_lite.engine.recovery import ChildRecord

pytestmark = pytest.mark.timeout(30)


def test_the_record_stays_while_a_recorded_child_lives(tmp_path):
    path = tmp_path / "sdl.pid.children"
    record = ChildRecord(str(path), lambda delay, callback: None)
    child = subprocess.Popen(["sleep", "300"])
    try:
        record.spawned("web", child.pid)
        record.write()
        assert record.remove() is False, "removed while web still runs"
        assert json.loads(path.read_text())["web"][0] == child.pid
    finally:
        child.kill()
        child.wait()
    assert record.remove() is True
    assert not path.exists()
