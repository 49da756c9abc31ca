"""`python -m benchmarks.compare OLD NEW` (or `python benchmarks/compare.py OLD NEW`):
every row's change between two saved runs (benchmarks/runs/*.md), so a commit that
costs speed is seen when it lands.

OLD and NEW are run files, or any part of a run's file name (a commit such as 4ba383f):
the newest run in benchmarks/runs/ whose name holds it. Rows are matched on workload and
metric; where the notes differ (a full run against a quick one, more repeats), on the
metric without its trailing note. For each row: the ratio (how many times better
supervisord_lite is than supervisord, measured in the same run) in both runs and its
change, then supervisord_lite's own figure in both runs and its change. Compare ratios
first: absolute figures of runs taken at different times on a shared machine move with
the machine (the no-manager rows, listed last, show how much).

`--worse PCT` marks a ratio that fell by more than PCT percent (default 10) and, with
`--fail`, exits 1 if any did.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
from dataclasses import dataclass

RUNS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs")
HEADER = "| workload | metric | supervisord | supervisord_lite | ratio |"
REVISION = re.compile(r"supervisord_lite at (\S+)")
NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")
TRAILING_NOTE = re.compile(r" \((?:[^()]|\([^()]*\))*\)$")


@dataclass
class Row:
    workload: str
    metric: str
    supervisord: str
    lite: str
    ratio: str

    @property
    def floor(self) -> bool:
        return self.supervisord.endswith("(no manager)")


@dataclass
class Run:
    path: str
    title: str
    revision: str
    rows: list[Row]


def resolve(spec: str) -> str:
    """A run file's path from a path or a fragment of a file name in benchmarks/runs/."""
    if os.path.isfile(spec):
        return spec
    found = sorted(p for p in glob.glob(os.path.join(RUNS_DIR, "*.md")) if spec in p)
    if not found:
        raise SystemExit(f"compare: no run file {spec!r}, and no run in {RUNS_DIR} names it")
    # A commit's main run, its `--only` runs and its A/B notes share the commit in their
    # names (...-full.md, ...-full-default-scale10k.md, ...-full-scale10k.md,
    # ...-ab-together.md): the run with every default workload is the one meant, and a
    # file with no table (an A/B's notes) never is.
    found = [p for p in found if _holds_table(p)] or found
    whole = [p for p in found if p.endswith(("-full.md", "-quick.md")) or "-default" in p]
    return (whole or found)[-1]  # names start with the date: the newest


def _holds_table(path: str) -> bool:
    with open(path) as f:
        return HEADER in f.read().splitlines()


def cells(line: str) -> list[str]:
    """A table row's cells; `\\|` inside a cell is not a separator."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def parse(path: str) -> Run:
    with open(path) as f:
        lines = f.read().splitlines()
    if HEADER not in lines:
        raise SystemExit(f"compare: {path} holds no benchmark table")
    title = lines[0].lstrip("# ") if lines else ""
    match = REVISION.search(title)
    rows = []
    for line in lines[lines.index(HEADER) + 2 :]:
        if not line.startswith("| "):
            break
        parts = cells(line)
        if len(parts) == 5:
            rows.append(Row(*parts))
    return Run(path, title, match.group(1) if match else "?", rows)


def number(text: str) -> float | None:
    if text.startswith("inf"):
        return float("inf")
    match = NUMBER.match(text)
    return float(match.group(0)) if match else None


def change(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return "n/a"
    if old == new:
        return "="
    if old in (0, float("inf")) or new == float("inf"):
        return "n/a"
    return f"{(new / old - 1) * 100:+.1f}%"


def match_rows(old: Run, new: Run) -> list[tuple[Row | None, Row | None]]:
    """Pairs in the new run's order, then rows only the old run has."""

    def key(r: Row, loose: bool) -> tuple[str, str]:
        return r.workload, TRAILING_NOTE.sub("", r.metric) if loose else r.metric

    exact = {key(r, False): r for r in old.rows}
    loose = {key(r, True): r for r in old.rows}
    pairs, used = [], set()
    for r in new.rows:
        found = exact.get(key(r, False)) or loose.get(key(r, True))
        if found is not None and id(found) in used:
            found = None
        if found is not None:
            used.add(id(found))
        pairs.append((found, r))
    pairs += [(r, None) for r in old.rows if id(r) not in used]
    return pairs


def lite_figure(row: Row) -> str:
    return row.lite.replace(" (no manager)", "")


def report(old: Run, new: Run, worse_pct: float) -> tuple[str, int]:
    """The comparison as markdown, and how many ratios fell by more than worse_pct."""
    out = [
        f"old: {os.path.basename(old.path)} ({old.revision})",
        f"new: {os.path.basename(new.path)} ({new.revision})",
        "",
        "| workload | metric | ratio old | ratio new | ratio change | lite old | lite new "
        "| lite change | |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    floors, gone, added, fell = [], [], [], 0
    for before, after in match_rows(old, new):
        if after is None:
            gone.append(before)
            continue
        if before is None:
            added.append(after)
            continue
        if after.floor:
            floors.append((before, after))
            continue
        r_old, r_new = number(before.ratio), number(after.ratio)
        mark = ""
        if r_old and r_new is not None and r_old != float("inf"):
            if r_new < r_old * (1 - worse_pct / 100):
                mark, fell = "**worse**", fell + 1
            elif r_new > r_old * (1 + worse_pct / 100):
                mark = "better"
        l_old, l_new = lite_figure(before), lite_figure(after)
        out.append(
            f"| {esc(after.workload)} | {esc(after.metric)} | {before.ratio} | {after.ratio} "
            f"| {change(r_old, r_new)} | {l_old} | {l_new} "
            f"| {change(number(l_old), number(l_new))} | {mark} |"
        )
    if floors:
        out += ["", "No-manager reference figures (the machine, not the code):", ""]
        out += ["| workload | metric | old | new | change |", "|---|---|---:|---:|---:|"]
        for before, after in floors:
            l_old, l_new = lite_figure(before), lite_figure(after)
            out.append(
                f"| {esc(after.workload)} | {esc(after.metric)} | {l_old} | {l_new} "
                f"| {change(number(l_old), number(l_new))} |"
            )
    for title, rows, other in (
        ("Only in the new run:", added, old),
        ("Only in the old run:", gone, new),
    ):
        out += unmatched(title, rows, {r.workload for r in other.rows})
    out += ["", f"{fell} ratio(s) fell by more than {worse_pct:g}%."]
    return "\n".join(out), fell


def unmatched(title: str, rows: list[Row], other_workloads: set[str]) -> list[str]:
    """Rows of a workload both runs measured, one by one (a metric renamed or new); the
    workloads the other run did not measure at all, by name only."""
    if not rows:
        return []
    out = ["", title]
    out += [
        f"- {r.workload} | {r.metric}: {r.supervisord} / {r.lite}"
        for r in rows
        if r.workload in other_workloads
    ]
    absent: dict[str, int] = {}
    for r in rows:
        if r.workload not in other_workloads:
            absent[r.workload] = absent.get(r.workload, 0) + 1
    if absent:
        out.append(
            "- workloads not in the other run: "
            + ", ".join(f"{w} ({count} rows)" for w, count in absent.items())
        )
    return out


def esc(text: str) -> str:
    return text.replace("|", "\\|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__)
    parser.add_argument("old", help="run file, or part of its name (e.g. a commit)")
    parser.add_argument("new", help="run file, or part of its name (e.g. a commit)")
    parser.add_argument(
        "--worse", type=float, default=10.0, metavar="PCT", help="mark ratio drops > PCT%%"
    )
    parser.add_argument("--fail", action="store_true", help="exit 1 if any ratio fell")
    args = parser.parse_args(argv)
    text, fell = report(parse(resolve(args.old)), parse(resolve(args.new)), args.worse)
    print(text)
    return 1 if args.fail and fell else 0


if __name__ == "__main__":
    sys.exit(main())
