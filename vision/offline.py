"""Keep Ultralytics off the network: no font, weight, version or analytics look-ups.

Ultralytics reaches out in several places, even when nothing needs downloading:

* ``ultralytics.utils.ONLINE = is_online()`` resolves two DNS names *at import time*
  (``YOLO_OFFLINE=1`` short-cuts it, and with it the PyPI version check and analytics);
* ``check_det_dataset`` and the plotting code call ``check_font("Arial.ttf")`` (or
  ``Arial.Unicode.ttf`` for non-ASCII names), which issues an HTTP HEAD to GitHub when the
  font is not in the Ultralytics config dir — on every dataset check;
* ``check_requirements`` pip-installs missing or "outdated" packages (onnx, onnxslim, ...)
  during export (``ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS=1``, ``YOLO_AUTOINSTALL=0``);
* ``attempt_download_asset`` fetches weights by name when a path does not exist locally;
* settings ``sync`` (analytics events, crash reports) and the platform/hub callbacks.

:func:`enable` must run before the first ``import ultralytics``; it sets the environment,
gives Ultralytics a private config dir holding local fonts under the names it asks for, turns
sync and every logger integration off, and replaces the remaining download helpers with
versions that refuse instead of downloading. The vision tests run training, export and
inference with sockets blocked to prove it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["NetworkRefusedError", "enable", "font_path"]

_ENV = {
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "0",
    "ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS": "1",
    "YOLO_VERBOSE": os.environ.get("YOLO_VERBOSE", "0"),
    "HF_HUB_OFFLINE": "1",
    "WANDB_DISABLED": "true",
    "WANDB_MODE": "disabled",
    "COMET_MODE": "disabled",
}
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
_done = False


class NetworkRefusedError(RuntimeError):
    """Ultralytics tried to download something; FieldPatrol never downloads at run time."""


def font_path() -> Path:
    """A local TrueType font (matplotlib's DejaVu Sans; it covers Latin and many scripts)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _config_dir(config_dir: str | Path | None) -> Path:
    if config_dir is not None:
        path = Path(config_dir)
    elif os.environ.get("YOLO_CONFIG_DIR"):
        path = Path(os.environ["YOLO_CONFIG_DIR"])
    else:
        path = Path(tempfile.gettempdir()) / f"fieldpatrol-ultralytics-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _refuse(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        target = args[0] if args else kwargs.get("url") or kwargs.get("file")
        raise NetworkRefusedError(
            f"{what}({target!r}) would download; FieldPatrol runs Ultralytics offline: pass a "
            "local file path"
        )

    return refuse


def _local_asset(file: Any, *args: Any, **kwargs: Any) -> str:
    """``attempt_download_asset`` without the download: local files only."""
    path = Path(str(file).strip())
    if path.exists():
        return str(path)
    raise NetworkRefusedError(
        f"model file {str(file)!r} does not exist locally; FieldPatrol never downloads weights "
        "(build from a YOLO yaml, e.g. yolov8n.yaml, or pass the path of a .pt/.onnx file)"
    )


def enable(config_dir: str | Path | None = None) -> Path:
    """Make every later Ultralytics call offline; returns the Ultralytics config dir.

    Safe to call many times. Called before ``import ultralytics`` it also stops the import-time
    DNS look-up; called after, it still patches what it can and warns on stderr.
    """
    global _done
    if "ultralytics" in sys.modules and not _done:
        print(
            "fieldpatrol: ultralytics was imported before vision.offline.enable(); its "
            "import-time online check may already have run",
            file=sys.stderr,
        )
    for key, value in _ENV.items():
        if key == "YOLO_VERBOSE":
            os.environ.setdefault(key, value)  # a user may want Ultralytics' progress output
        else:
            os.environ[key] = value
    cfg = _config_dir(config_dir)
    os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    font = font_path()
    for name in _FONT_NAMES:
        target = cfg / name
        if not target.exists():
            shutil.copyfile(font, target)
    if _done:
        return cfg

    import ultralytics.utils as uu
    from ultralytics.data import utils as data_utils
    from ultralytics.utils import checks, downloads, plotting

    uu.ONLINE = False
    checks.ONLINE = False
    settings: dict[str, Any] = {"sync": False}
    for key in ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb", "hub"):
        if key in uu.SETTINGS:
            settings[key] = False
    if any(uu.SETTINGS.get(k) != v for k, v in settings.items()):
        uu.SETTINGS.update(settings)

    def local_font(font: str = "Arial.ttf") -> Path:
        name = Path(font).name
        candidate = cfg / name
        return candidate if candidate.exists() else font_path()

    checks.check_font = local_font
    data_utils.check_font = local_font
    plotting.check_font = local_font
    checks.check_pip_update_available = lambda: False
    checks.check_latest_pypi_version = lambda *a, **k: None
    downloads.is_url = _offline_is_url(downloads.is_url)
    downloads.safe_download = _refuse("safe_download")
    downloads.get_github_assets = _refuse("get_github_assets")
    downloads.attempt_download_asset = _local_asset
    import ultralytics.nn.tasks as tasks

    setattr(tasks, "attempt_download_asset", _local_asset)  # noqa: B010 (untyped module)
    if hasattr(data_utils, "safe_download"):
        data_utils.safe_download = downloads.safe_download
    try:
        from ultralytics.utils.callbacks import platform

        platform.callbacks.clear()
    except ImportError:  # older Ultralytics has no platform callbacks
        pass
    try:
        from ultralytics.utils import events

        events.events.enabled = False
    except (ImportError, AttributeError):
        pass
    _done = True
    return cfg


def _offline_is_url(original: Any) -> Any:
    def is_url(url: Any, check: bool = False) -> bool:
        # Syntax only: never ask the network whether the URL exists.
        return bool(original(url, check=False))

    return is_url
