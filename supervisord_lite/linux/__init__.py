"""The daemon's hands on the kernel: the event loop (loop: epoll, signals, timers),
creating children (spawn, with pid_env's own-pid variables and rlimits applied in the
child), cgroups (cgroups), one pass over /proc (proctree), and who is at the other end
of a loopback socket (peer_uid, sock_diag).

May import: config, logs, base.
"""
