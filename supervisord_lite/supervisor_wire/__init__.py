"""Supervisor's wire formats, pure codecs: the event-listener protocol (events; its
shell is engine/event_hub.py) and XML-RPC (xmlrpc, for the endpoint beside http/).

May import: base.
"""
