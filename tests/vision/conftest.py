"""Vision test set-up: import the real ``vision`` package, not this test folder.

pytest puts ``tests/`` on ``sys.path`` (for ``tests/conftest.py``); with the editable install's
finder running after the path finder, ``import vision`` would then find ``tests/vision`` as a
namespace package. With the repository root on ``sys.path`` the regular package wins.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)
