"""A list of subscribers that no subscriber can break.

The supervisor tells its listeners (events streams, parked start replies, alerts, the
systemd notifier) about every transition from inside that transition. A listener that
raises must not leave the transition half done (a process STARTING with no child, no
restart, `shutdown` hanging): each is called on its own, and one that raises is logged
once and dropped, while the others and the transition carry on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable, Generic, TypeVar

from supervisord_lite.base.log import log

F = TypeVar("F", bound=Callable[..., None])


class Subscribers(Generic[F]):
    """Callbacks told in the order they subscribed; removing one that is already gone
    (dropped after a failure) is not an error."""

    __slots__ = ("what", "_items")

    def __init__(self, what: str):
        self.what = what  # names them in the log: "state-change listener"
        self._items: list[F] = []

    def append(self, callback: F) -> None:
        self._items.append(callback)

    def remove(self, callback: F) -> None:
        try:
            self._items.remove(callback)
        except ValueError:
            pass

    def __contains__(self, callback: object) -> bool:
        return callback in self._items

    def __iter__(self) -> Iterator[F]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def emit(self, *args) -> None:
        """Call every subscriber with args; one that raises is dropped (a bug: logged
        with its traceback, once)."""
        for callback in list(self._items):
            try:
                callback(*args)
            except Exception:
                self.remove(callback)
                try:
                    log.exception("a %s failed and was dropped: %r", self.what, callback)
                except Exception:
                    pass  # the log itself failing (a full disk) must not break us either
