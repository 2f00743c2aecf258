"""``python -m uniflow.daemon``: run the daemon in the foreground."""

from __future__ import annotations

import sys

from uniflow.daemon.server import main

sys.exit(main())
