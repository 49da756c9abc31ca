"""What the docs state about the config and the tools is what the code does (issue
22.16): each statement a newcomer tripped over, checked against the real loader through
`supervisord-lite --check`, or against the tables the code uses."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from integration.harness import DAEMON_CMD
from supervisord_lite.config.keys import ALERT_KINDS, INCLUDE_TOP_KEYS, TOP_KEYS

pytestmark = pytest.mark.timeout(60)

DOCS = Path(__file__).resolve().parents[2] / "docs"


def doc(name: str) -> str:
    return (DOCS / name).read_text()


def paragraph(text: str, start: str) -> str:
    """The paragraph that begins with `start`, joined on one line."""
    at = text.index(start)
    end = text.find("\n\n", at)
    return " ".join(text[at : end if end != -1 else None].split())


def check(daemon, text: str, include: str | None = None) -> subprocess.CompletedProcess:
    if include is not None:
        (daemon.dir / "conf.d").mkdir(exist_ok=True)
        (daemon.dir / "conf.d" / "inc.toml").write_text(include)
    daemon.config.write_text(text)
    return subprocess.run(
        [*DAEMON_CMD, "-c", str(daemon.config), "--check"],
        capture_output=True,
        text=True,
        env=daemon.env,
        timeout=30,
    )


EVERY_TABLE = """
[supervisord]
include = ["conf.d/*.toml"]
[programs.web]
command = ["sleep", "60"]
[groups.front]
programs = ["web"]
[alerts]
exec = ["true"]
[http]
listen = "127.0.0.1:9001"
[xmlrpc]
listen = "unix://xmlrpc.sock"
"""


def test_the_top_level_keys_are_those_the_docs_list(daemon):
    said = paragraph(doc("configuration.md"), "The top level may hold")
    for key in TOP_KEYS:
        assert f"`{key}`" in said, (key, said)
    res = check(daemon, EVERY_TABLE)
    assert res.returncode == 0, res
    res = check(daemon, EVERY_TABLE + "[programz.x]\n")
    assert res.returncode == 2 and "programz: unknown key" in res.stderr, res


def test_an_include_holds_what_the_docs_say(daemon):
    said = paragraph(doc("configuration.md"), "An include file may contain only")
    for key in INCLUDE_TOP_KEYS:
        assert f"`[{key}.*]`" in said, (key, said)
    group = '[programs.api]\ncommand = ["sleep", "60"]\n[groups.back]\nprograms = ["api"]\n'
    res = check(daemon, EVERY_TABLE, include=group)
    assert res.returncode == 0, res
    res = check(daemon, EVERY_TABLE, include='[supervisord]\nloglevel = "debug"\n')
    assert res.returncode == 2, res
    # the docs quote this error line as the loader prints it
    printed = res.stderr.strip().split(": ", 1)[1]
    assert f"conf.d/web.toml: {printed}" in doc("configuration.md"), printed


def test_the_alerts_section_names_every_kind():
    section = doc("configuration.md").split("## `[alerts]`", 1)[1].split("\n## ", 1)[0]
    for kind in ALERT_KINDS:
        assert f"`{kind}`" in section, (kind, section)


def test_no_page_claims_there_is_no_http_server():
    for name in ("migrating.md", "usage.md", "configuration.md"):
        text = " ".join(doc(name).split())
        assert not re.search(r"no HTTP (server|/XML-RPC server) yet", text), name


def test_the_health_column_is_described_as_the_page_fills_it():
    text = " ".join(doc("web.md").split())
    assert "blank until health checks exist" not in text
    js = (DOCS.parent / "supervisord_lite" / "http" / "web" / "app.js").read_text()
    assert 'setText(c.health, p.health || "")' in js  # the status field, else blank
    assert "`healthy` or `unhealthy`" in text


def test_the_upgrade_step_fits_the_install_the_readme_shows():
    readme = (DOCS.parent / "README.md").read_text()
    assert "pip install -e ." in readme  # the README installs from a clone
    upgrade = doc("deploy.md").split("## Upgrading the daemon", 1)[1]
    assert "git -C /path/to/clone pull" in upgrade
    assert "pip install -e /path/to/clone" in upgrade
