"""`python -m supervisord_lite`: the daemon."""

from supervisord_lite.daemon.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
