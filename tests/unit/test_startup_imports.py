"""What a serving process imports before its first request: not the audio-analysis stack.

pyloudnorm brings scipy.signal (about a second of CPU), and the compositions' mixing module is
imported with the API for its request models; so the mixing imports them on first use. Every
``serve`` and ``worker`` start, and every test server, would pay that second again if a
top-level import brought them back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("scipy", "pyloudnorm")


def test_the_app_is_built_without_scipy_or_pyloudnorm(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from mediastudio.app import create_app\n"
        "from mediastudio.settings import load_settings\n"
        f"create_app(load_settings(data_dir={str(tmp_path)!r}, bootstrap=False))\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    assert done.stdout.strip() == "[]"
