"""Supervisor's wire formats, pure codecs not wired yet: the event-listener protocol
(events) and XML-RPC (xmlrpc). The listeners and the XML-RPC endpoint that will use
them sit beside http/.

May import: base.
"""
