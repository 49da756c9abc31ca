"""supervisord_lite: a small, fast process manager."""

__version__ = "0.1.0"
