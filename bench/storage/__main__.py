"""Entry point: ``python -m bench.storage [options]`` (see ``bench/storage/__init__.py``)."""

import sys

from bench.storage.cli import main

sys.exit(main())
