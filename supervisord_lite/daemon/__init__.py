"""The composition root: `supervisord-lite`'s command line (cli: main), start-up before
detaching (startup), the running daemon that wires the packages together (running:
Daemon), waiting for programs at launch (launch_wait), and hash-password
(hash_password).

May import: every package of the daemon, and convert (for `convert` only).
"""
