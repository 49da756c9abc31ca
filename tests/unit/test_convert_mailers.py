"""superlance mail listeners read into [alerts] (convert/mailers.py)."""

from __future__ import annotations

import subprocess

import pytest

from supervisord_lite.convert.mailers import alerts_table, exec_argv, read_mailer

pytestmark = pytest.mark.timeout(10)


def test_crashmailbatch_options():
    m = read_mailer("crashmailbatch", ["--toEmail=a@x", "--fromEmail", "sd@x", "--subject",
                                       "Crash!", "--interval=2", "--smtpHost=mx"])  # fmt: skip
    assert (m.kind, m.to, m.sender, m.subject, m.batch) == ("crashed", "a@x", "sd@x", "Crash!", 120)
    assert m.notes == ["--smtpHost: mail goes through the local sendmail instead"]


def test_what_cannot_be_carried_is_noted():
    m = read_mailer("crashmail", ["-p", "web", "--interval", "x"])
    assert m.notes == [
        "-p web: [alerts] covers every program, not only web",
        "no recipient (-m / --toEmail) given: no mail is sent",
    ]
    table, notes = alerts_table([m])
    assert table is None and notes["crashmail"] == m.notes


def test_the_mail_command_writes_headers_then_the_body(tmp_path):
    out = tmp_path / "mail"
    m = read_mailer("fatalmailbatch", ["--toEmail", "o'neil@x", "--subject", "100% down",
                                       "-s", f"tee {out}"])  # fmt: skip
    subprocess.run(exec_argv(m), input=b'{"text": "x"}', check=True, timeout=10,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    assert out.read_text() == 'To: o\'neil@x\nSubject: 100% down\n\n{"text": "x"}'


def test_several_mailers_make_one_table():
    a = read_mailer("crashmail", ["-m", "a@x"])
    b = read_mailer("fatalmailbatch", ["--toEmail=b@x", "--interval=1"])
    table, notes = alerts_table([a, b])
    assert table["on"] == ["crashed", "fatal"] and table["batch"] == 0.0  # crashmail: at once
    assert "these alerts now go to a@x, not b@x" in notes["fatalmailbatch"][-1]
