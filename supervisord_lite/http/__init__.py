"""The [http] page and API on the daemon's loop: listening (server, service), one
HTTP/1.1 connection (connection), what a request means (routes), credentials checked
with brakes (login), connection slots (slots), CSRF tokens (csrf), other hosts over ssh
(hosts), the page itself (web/). Loaded only with [http].

May import: control and everything below it.
"""
