"""The server listens before the heavy packages load.

`streamlit run server.py` imports server.py before it opens its port, so whatever server.py and
web/ import at the top delays the first answer a browser gets. Storage (SQLAlchemy), the SDK
and the attachment parsers cost about a second together; the warm-up thread loads them while
the browser loads the front end. An import added at the top of web/ would silently put that
second back, which is what this guards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("sqlalchemy", "openai", "storage", "chatcore.wiring", "pypdf", "PIL")


def _loaded_after(statement: str) -> set[str]:
    probe = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_server_loads_no_heavy_package() -> None:
    loaded = _loaded_after("import server")
    assert "web.guard" in loaded and "web.signin" in loaded  # the probe saw the real module
    assert sorted(loaded & set(HEAVY)) == []


def test_the_services_load_the_pdf_reader_only_for_a_pdf() -> None:
    loaded = _loaded_after("import chatcore.wiring")
    assert "sqlalchemy" in loaded
    assert "pypdf" not in loaded


def test_a_code_block_loads_no_data_frame_library() -> None:
    """Streamlit looks through a component's dict data for data frames, importing pandas and
    pyarrow (about 70 MB per server process); ui/code_block.py hands it a list instead."""
    script = "from ui.code_block import draw_markdown\ndraw_markdown('```py\\nx\\n```', (), 'c')"
    loaded = _loaded_after(
        f"from streamlit.testing.v1 import AppTest; AppTest.from_string({script!r}).run()"
    )
    assert "pygments" in loaded  # the probe drew the block
    assert sorted(loaded & {"pandas", "pyarrow"}) == []
