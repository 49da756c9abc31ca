"""Where children's bytes go, and the daemon's own log.

LogFile (logfile: size-rotated files or streams, held back while a stream cannot take
more), the pipe readers (pipes), line marking (lines), reading back for tail and
tail -f (follow), opening a log path safely in directories others control (safe_open),
and the daemon's own buffered log (daemon_log) with its repeated-line brake (repeats).

May import: base.
"""
