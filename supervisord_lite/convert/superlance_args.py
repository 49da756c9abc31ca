"""The command lines of superlance's listeners (crashmail, httpok, memmon ...), read as
their getopt does: `-o VALUE`, `--option=VALUE` or `--option VALUE`, then arguments."""

from __future__ import annotations

from collections.abc import Iterator


def options(argv: list[str], takes_value: set[str]) -> Iterator[tuple[str, str]]:
    """(option, value) for each option, value "" for a flag; ("", ARG) for an argument."""
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("-"):
            yield "", arg
            continue
        option, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if not eq and option in takes_value and args:
            value = args.pop(0)
        yield option, value
