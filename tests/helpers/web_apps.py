"""A WSGI app (gunicorn) and an ASGI app (uvicorn) answering with their pid, for the
rolling-restart tests: `gunicorn web_apps:wsgi`, `uvicorn web_apps:asgi --fd 3`."""

import os


def wsgi(environ, start_response):
    body = f"pid={os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    body = f"pid={os.getpid()}\n".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
