"""``python -m aesweep.server``."""

import sys

from aesweep.server.cli import main

sys.exit(main())
