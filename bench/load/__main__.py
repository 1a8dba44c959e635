"""Entry point: ``python -m bench.load [options]`` (see ``bench/load/__init__.py``)."""

import sys

from bench.load.cli import main

sys.exit(main())
