"""An HTTP server on a socket it is handed, as systemd hands them (sd_listen_fds(3)).

Reads LISTEN_FDS / LISTEN_PID (fd 3), or fd 0 with --stdin. Answers every GET with
`pid=<its pid> listen_pid=<LISTEN_PID> names=<LISTEN_FDNAMES>`. On SIGTERM it finishes
the request in hand and exits 0, as a graceful server does. --slow S holds each answer
S seconds (a request in flight while the roll goes on).
"""

import http.server
import os
import signal
import socket
import sys
import time

stopping = False


def on_term(signum, frame):
    global stopping
    stopping = True


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if SLOW:
            time.sleep(SLOW)
        body = (
            f"pid={os.getpid()} listen_pid={os.environ.get('LISTEN_PID')} "
            f"names={os.environ.get('LISTEN_FDNAMES')} fds={os.environ.get('LISTEN_FDS')}\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


SLOW = float(sys.argv[sys.argv.index("--slow") + 1]) if "--slow" in sys.argv else 0.0


def main():
    signal.signal(signal.SIGTERM, on_term)
    if "--stdin" in sys.argv:
        fd = 0
    else:
        if os.environ.get("LISTEN_PID") != str(os.getpid()):
            print(f"LISTEN_PID {os.environ.get('LISTEN_PID')} is not my pid {os.getpid()}")
            sys.exit(3)
        fd = 3
    sock = socket.socket(fileno=fd)
    server = http.server.HTTPServer(("", 0), Handler, bind_and_activate=False)
    server.socket = sock
    server.timeout = 0.2
    print(f"serving on fd {fd}: {sock.getsockname()}", flush=True)
    while not stopping:
        server.handle_request()
    print("stopped", flush=True)


main()
