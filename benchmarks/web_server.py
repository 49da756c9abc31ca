"""The web server of the `rolling` workload: HTTP/1.0, one request at a time, on the
socket it is handed (LISTEN_FDS: fd 3) or, without one, on the port in argv[1], bound
itself (what a program under supervisord does). On SIGTERM it finishes the request in
hand and exits, as a graceful server does."""

import http.server
import os
import signal
import socket
import sys

stopping = False


def on_term(signum, frame):
    global stopping
    stopping = True


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"pid={os.getpid()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    signal.signal(signal.SIGTERM, on_term)
    if os.environ.get("LISTEN_PID") == str(os.getpid()):
        server = http.server.HTTPServer(("", 0), Handler, bind_and_activate=False)
        server.socket = socket.socket(fileno=3)
    else:
        http.server.HTTPServer.allow_reuse_address = True
        server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.timeout = 0.2
    while not stopping:
        server.handle_request()


main()
