"""Subscribers: one subscriber that raises is dropped and logged once; the others,
and whoever emitted, carry on (issue 21.1: no listener may break a transition)."""

from __future__ import annotations

from supervisord_lite.base.log import ERROR, collected
from supervisord_lite.engine.subscribers import Subscribers


def test_a_failing_subscriber_is_dropped_and_the_rest_are_told():
    told: list[tuple[str, int]] = []
    subscribers: Subscribers = Subscribers("state-change listener")

    def broken(n: int) -> None:
        raise RuntimeError("h11 said no")

    subscribers.append(lambda n: told.append(("first", n)))
    subscribers.append(broken)
    subscribers.append(lambda n: told.append(("last", n)))
    with collected(ERROR) as lines:
        subscribers.emit(1)
        subscribers.emit(2)
    assert told == [("first", 1), ("last", 1), ("first", 2), ("last", 2)]
    assert broken not in subscribers and len(subscribers) == 2
    failures = [m for m in lines.messages() if "failed and was dropped" in m]
    assert len(failures) == 1 and "state-change listener" in failures[0]
    subscribers.remove(broken)  # its owner unsubscribing later is no error


def test_a_subscriber_may_unsubscribe_itself_or_another_while_told():
    subscribers: Subscribers = Subscribers("listener")
    told = []

    def once(n: int) -> None:
        told.append(n)
        subscribers.remove(once)

    subscribers.append(once)
    subscribers.emit(1)
    subscribers.emit(2)
    assert told == [1]
