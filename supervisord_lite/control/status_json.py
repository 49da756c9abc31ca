"""`status` replies as JSON text, each process's part kept between its changes.

Building a dict per process and encoding it would be most of a status round trip
with many programs (docs/benchmarks.md has the figures). Between two of a process's
transitions its status object is fixed, except a live process's `uptime` (and, once a
second, the `uptime H:MM:SS` in its description), so each process's text is kept,
split around those two fields, and only they are written afresh. The text is exactly
`json.dumps(Supervisor.status(...))` with the protocol's separators: a test compares
the two in every state.

The trees' figures (CPU, memory, threads) change all the time: they are read afresh
for each request that asks for them, from one reading of our trees (never a pass over
the host's /proc, never kept), and appended to the process's text.
"""

from __future__ import annotations

from supervisord_lite.base.protocol import to_json
from supervisord_lite.core.process import hms, log_problems
from supervisord_lite.core.states import ProcessState

S = ProcessState


class StatusText:
    """Supervisor.status() as JSON text, cached per process."""

    def __init__(self, supervisor):
        self.supervisor = supervisor
        # process name -> [process, key, fixed text | None, head, mid, tail, second, desc,
        #                  plain: '"pid N, uptime ' when the description is only that
        #                  and H:MM:SS, else None]
        self._cache: dict[str, list] = {}
        self._pieces: dict[str, str] = {}  # texts many processes' entries share
        self._clock: dict[int, str] = {}  # seconds of uptime -> H:MM:SS

    def array(self, processes, current: float, figures: bool = True) -> str:
        """The status array; without figures, the objects lack the trees' figures
        (tracking, cpu_seconds, memory_bytes, tasks, memory_limit_by)."""
        table = self.supervisor.processes
        if len(self._cache) > len(table):  # a reload removed some: forget them
            self._cache = {k: v for k, v in self._cache.items() if table.get(k) is v[0]}
        texts = self._texts(processes, current)
        if not figures:
            return "[" + ",".join(texts) + "]"
        reading = self.supervisor.figures.reading()
        figures_of = self.supervisor.figures.of
        parts = []
        for process, text in zip(processes, texts):
            members = to_json(figures_of(process, reading))[1:]
            parts.append(text[:-1] + "," + members)
        return "[" + ",".join(parts) + "]"

    def one(self, process, current: float) -> str:
        """The status object without the trees' figures, as JSON text."""
        return self._texts((process,), current)[0]

    def _texts(self, processes, current: float) -> list[str]:
        # One loop with everything it reads bound to locals: with 10,000 processes this
        # loop is most of a `status`, and a method call and a few attribute reads per
        # process are a tenth of it.
        cache, build, bare = self._cache, self._build, self.supervisor.bare_status
        config, running = self.supervisor.config, S.RUNNING
        clock = self._clock
        if len(clock) > 4096:  # H:MM:SS texts of past seconds: bounded, rebuilt at need
            clock.clear()
        texts = []
        for process in processes:
            machine = process.machine
            if process.waiting_for_deps:  # its description names other processes' states
                texts.append(to_json(bare(process, current)))
                continue
            history = machine.history
            checks, schedule, listener = process.checks, process.schedule, process.listener
            # Everything the text depends on besides the time. Built for every process at
            # every request, so the rare parts cost a None test, not a call, when unused.
            key = (
                machine.state,
                machine.pid,
                machine.started_at,
                machine.exitstatus,
                machine.restarts,
                machine.spawn_error,
                history[-1] if history else None,
                process.changed_at,
                process.dep_error,
                process.ever_started,
                log_problems(process),  # a log that cannot be written shows in it
                None if checks is None else checks.key(),  # probes, STATUS=
                process.program.numprocs,  # a scale changes it, not the state
                config,  # a reload may change numprocs_config, not the state
                process.hook,  # the hook command running (engine/hooks.py)
                None if schedule is None else schedule.key(),  # next run
                None if listener is None else listener.protocol_error,
            )
            entry = cache.get(process.name)
            if entry is None or entry[0] is not process or entry[1] != key:
                entry = cache[process.name] = build(process, key, current)
            if entry[2] is not None:
                texts.append(entry[2])
                continue
            _, _, _, head, mid, tail, second, desc, plain = entry
            uptime = current - machine.started_at
            whole = int(uptime)
            if whole != second and machine.state is running:
                # At a dashboard's pace every live description has changed since the
                # last request: the plain one (most of them) is written here, from the
                # H:MM:SS that processes started in the same second share.
                if plain is not None:
                    shown = clock.get(whole)
                    if shown is None:
                        shown = clock[whole] = hms(whole)
                    desc = f'{plain}{shown}"'
                else:
                    desc = to_json(self.supervisor.describe(process, uptime))
                entry[7] = desc
                entry[6] = whole
            # repr: what json writes for a finite float, without the encoder's setup
            texts.append(f"{head}{repr(round(uptime, 3)) if uptime else '0'}{mid}{desc}{tail}")
        return texts

    def _build(self, process, key, current: float) -> list:
        machine = process.machine
        status = self.supervisor.bare_status(process, current)
        live = machine.state in (S.RUNNING, S.STARTING) and machine.started_at is not None
        if not live:
            return [process, key, to_json(status), None, None, None, None, None, None]
        text = to_json(status)
        # Cut the text around "uptime" and "description": the keys are fixed and in this
        # order, and nothing before "uptime" can contain that key's text (names and
        # states are plain words; pid and exit status are numbers).
        head, rest = text.split(',"uptime":', 1)
        _, rest = rest.split(',"restarts":', 1)
        restarts, rest = rest.split(',"description":', 1)
        desc = to_json(status["description"])
        tail = rest[len(desc) :]
        second = int(current - machine.started_at)
        plain = f'"pid {machine.pid}, uptime '  # its description's text before H:MM:SS
        if machine.state is not S.RUNNING or status["description"] != (
            f"pid {machine.pid}, uptime {hms(current - machine.started_at)}"
        ):
            plain = None
        # The middle and the tail are the same text for most live processes (no restarts,
        # no spawn error, no health table): one shared copy, not one per process.
        return [
            process,
            key,
            None,
            head + ',"uptime":',
            self._shared(',"restarts":' + restarts + ',"description":'),
            self._shared(tail),
            second,
            desc,
            plain,
        ]

    def _shared(self, text: str) -> str:
        return self._pieces.setdefault(text, text) if len(self._pieces) < 64 else text
