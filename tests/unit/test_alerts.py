"""alerts/batching.py's pure core by histories: which changes are alerts, when batches go out
(window, rate limit, bounded queue); and the [alerts] table's checks."""

from __future__ import annotations

import inspect
import textwrap

import pytest

from supervisord_lite.alerts import batching
from supervisord_lite.alerts.batching import MAX_QUEUED, RATE_WINDOW, Alert, AlertQueue, alert_for
from supervisord_lite.config import keys
from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import AlertsConfig, ConfigError
from supervisord_lite.core.states import ProcessState as S

pytestmark = pytest.mark.timeout(10)


def alert(n: int = 0) -> Alert:
    return Alert("crashed", f"p{n}", "g", 1000.0 + n, f"p{n} crashed")


def test_only_unexpected_exits_of_running_processes_and_fatal_are_alerts():
    def make(old, new, expected=False, on=keys.ALERT_KINDS):
        return alert_for(on, "w", "g", old, new, expected, 1, "exit status 1", 5.0)

    crashed = make(S.RUNNING, S.EXITED)
    assert crashed.kind == "crashed" and crashed.text == "w crashed: exit status 1"
    assert make(S.RUNNING, S.EXITED, expected=True) is None  # exit 0 with exitcodes [0]
    assert make(S.STARTING, S.BACKOFF) is None  # a failed start retries: not yet news
    assert make(S.BACKOFF, S.FATAL).kind == "fatal"
    assert make(S.RUNNING, S.STOPPING) is None and make(S.STOPPING, S.STOPPED) is None
    assert make(S.RUNNING, S.EXITED, on=("fatal",)) is None  # kinds not asked for


def test_a_batch_goes_out_one_window_after_its_first_alert():
    q = AlertQueue(batch=10, rate_limit=60)
    assert q.due_at(0) is None and q.take(0) is None
    q.add(alert(1), now=100)
    q.add(alert(2), now=105)
    assert q.due_at(105) == 110
    assert q.take(109.9) is None
    assert q.take(110) == ([alert(1), alert(2)], 0)
    assert q.due_at(111) is None  # nothing waits
    q.add(alert(3), now=200)  # a new window opens with the next alert
    assert q.due_at(200) == 210


def test_the_rate_limit_holds_batches_back_and_loses_nothing():
    q = AlertQueue(batch=0, rate_limit=2)
    for t in (0, 1):
        q.add(alert(t), now=t)
        assert q.take(t) == ([alert(t)], 0)
    q.add(alert(2), now=2)
    q.add(alert(3), now=500)
    assert q.due_at(500) == RATE_WINDOW  # the oldest send ages out of the hour at 3600
    assert q.take(3599) is None
    assert q.take(RATE_WINDOW) == ([alert(2), alert(3)], 0)


def test_a_full_queue_drops_the_oldest_and_says_how_many():
    q = AlertQueue(batch=1, rate_limit=60)
    for n in range(MAX_QUEUED + 5):
        q.add(alert(n), now=0)
    batch, dropped = q.take(1)
    assert dropped == 5 and len(batch) == MAX_QUEUED and batch[0] == alert(5)
    assert "5 older alerts dropped" in batching.summary(batch, dropped, "h")


def test_summary_is_one_line_per_alert():
    text = batching.summary([alert(1), alert(2)], 0, "web1")
    assert text == "supervisord-lite on web1: 2 alerts\n- p1 crashed\n- p2 crashed"


def test_table_defaults_match_the_class():
    params = inspect.signature(AlertsConfig).parameters
    assert {k: d for k, (_, d) in keys.ALERT_KEYS.items()} == {
        k: p.default for k, p in params.items()
    }


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("batch = 1", "alerts: give exec, webhook or both: where alerts go"),
        (
            'webhook = "ftp://x/y"',
            'alerts.webhook: expected an http:// or https:// URL, got "ftp://x"',
        ),
        ('webhook = "http:///path"', 'alerts.webhook: no host in "http://"'),
        ('webhook = "http://h:99999/"', "alerts.webhook: Port out of range 0-65535"),
        ('exec = "x"\non = ["crash"]', 'alerts.on[0]: expected "crashed" | "fatal" | '),
        ('exec = "x"\ntimeout = 0', "alerts.timeout: expected a number > 0, got 0"),
        ('exec = "x"\nrate_limit = 0', "alerts.rate_limit: expected an integer >= 1, got 0"),
        ('exec = "x"\nbatchh = 1', 'alerts.batchh: unknown key (did you mean "batch"?)'),
    ],
)
def test_alerts_table_mistakes_are_named(tmp_path, table, expected):
    path = tmp_path / "c.toml"
    path.write_text(textwrap.dedent(f"[alerts]\n{table}\n"))
    with pytest.raises(ConfigError) as exc:
        load_config(str(path))
    assert any(expected in e for e in exc.value.errors), exc.value.errors


def test_alerts_table_is_read(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[alerts]\nexec = ["notify", "--all"]\non = ["fatal", "fatal"]\nbatch = 0\n')
    conf = load_config(str(path))
    assert conf.alerts == AlertsConfig(on=("fatal",), exec=("notify", "--all"), batch=0.0)
    path.write_text("[programs.a]\ncommand = 'x'\n")
    assert load_config(str(path)).alerts is None


def test_alert_text_is_one_bounded_line_and_the_summary_is_escaped_for_slack():
    said = "<!channel> & <https://x|y>\n- fake is healthy " + "z" * 1000
    a = Alert("unhealthy", "w", "g", 1.0, f"w is unhealthy: {said}")
    assert "\n" not in a.text and len(a.text) == batching.MAX_TEXT and a.text.endswith("\u2026")
    text = batching.summary([a], 0, "h<b>")
    assert text.splitlines() == [
        "supervisord-lite on h&lt;b&gt;: 1 alert",
        "- " + batching.slack_escape(a.text),
    ]
    assert "&lt;!channel&gt; &amp; &lt;https://x|y&gt;" in text
    assert batching.one_line("a\u2028b\x85c\rd\x1b[31m") == "a b c d [31m"  # no line break


def test_a_batch_no_target_took_gives_its_place_in_the_hour_back():
    q = AlertQueue(batch=0, rate_limit=1)
    q.add(alert(1), now=10)
    assert q.take(10) == ([alert(1)], 0) and q.held_until(11) == 10 + RATE_WINDOW
    q.add(alert(2), now=20)
    assert q.due_at(20) == 10 + RATE_WINDOW  # held: the hour is used up
    q.refund(10)  # the first one failed everywhere
    assert q.held_until(20) is None and q.due_at(20) == 20
    assert q.take(20) == ([alert(2)], 0)
    q.refund(12345)  # nothing taken then: no effect
    assert q.held_until(21) == 20 + RATE_WINDOW
