"""The process model: the pure state machine and the process slot.

The machine's vocabulary (machine_events: ProcessState, events in, effects out), the
per-process machine and its legal edges (states), one supervised slot and what
`status` says about it (process: Process, ProbeView), stop order (ordering). The
machine does no I/O and reads no clock.

May import: linux, config, logs, base.
"""
