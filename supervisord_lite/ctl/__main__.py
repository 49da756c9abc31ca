"""`python -m supervisord_lite.ctl`: the control client, as `supervisorctl-lite`."""

from supervisord_lite.ctl.main import main

raise SystemExit(main())
