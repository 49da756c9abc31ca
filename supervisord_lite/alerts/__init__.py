"""Alert delivery: which state changes are alerts and when a batch goes out (batching,
pure), the [alerts] listener and its deliveries (send: Alerts), and one non-blocking
webhook POST (http_post). Loaded only with [alerts].

May import: core, linux, config, logs, base.
"""
