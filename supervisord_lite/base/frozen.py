"""A base for small immutable value classes, in place of @dataclass(frozen=True).

dataclasses imports inspect (with ast, dis, tokenize, ...) and generates each class's
methods from source at import: 1.5 MiB of the daemon's resident memory. Its instances
also carry a __dict__. A subclass here lists its fields in __slots__ and sets them in
its own __init__ with `_set`; it gets what the frozen dataclasses gave: == (same class,
same fields), a hash of all fields, a repr naming them, no assignment after __init__,
and replace() for dataclasses.replace().
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T", bound="Frozen")

_set = object.__setattr__  # for __init__: the only way to set a field


class Frozen:
    __slots__ = ()

    def _values(self) -> tuple:
        return tuple([getattr(self, name) for name in self.__slots__])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{self.__class__.__qualname__}({fields})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __reduce__(self):
        return (_rebuild, (self.__class__, self.fields()))

    def fields(self) -> dict[str, Any]:
        """Every field by name, in order."""
        return {name: getattr(self, name) for name in self.__slots__}

    def replace(self: T, **changes: Any) -> T:
        """A copy with some fields changed, as dataclasses.replace()."""
        return self.__class__(**{**self.fields(), **changes})


def _rebuild(cls, fields):
    return cls(**fields)
