"""Hold N listening TCP sockets on distinct loopback addresses (127.77.x.y, one port),
so the host's TCP table (/proc/net/tcp) has N more entries; print "ready" once all
are listening, then wait until stdin closes. Forked processes share the sockets when
one may not hold N descriptors. Usage: socket_hoard.py N PORT"""

import os
import resource
import socket
import sys

count, port = int(sys.argv[1]), int(sys.argv[2])
per_process = max(1, resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 100)
resource.setrlimit(resource.RLIMIT_NOFILE, (per_process + 100,) * 2)


def hold(first: int, last: int) -> list[socket.socket]:
    held = []
    for i in range(first, last):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((f"127.77.{i // 250}.{i % 250 + 1}", port))
        sock.listen(0)
        held.append(sock)
    return held


done_r, done_w = os.pipe()
chunks = [(s, min(count, s + per_process)) for s in range(0, count, per_process)]
for first, last in chunks[1:]:
    if os.fork() == 0:
        os.close(done_r)
        held = hold(first, last)
        os.write(done_w, b".")
        os.read(0, 1)  # until the parent is gone (stdin closes)
        os._exit(0)
os.close(done_w)
held = hold(*chunks[0])
for _ in chunks[1:]:
    assert os.read(done_r, 1) == b"."
print("ready", flush=True)
sys.stdin.read()
