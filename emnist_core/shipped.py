"""Where the files shipped beside the code are: the clone's folders, or an installed copy's.

In a clone, `checkpoints/`, `web/` and `examples/` sit beside `emnist_core/`. `pip install .` puts them
in the package `emnist_sketchpad_data` beside `emnist_core/` in site-packages (pyproject.toml maps the
folders there), so one relative path finds either. `pip install -e .` leaves them in the clone.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the clone, or site-packages
INSTALLED = ROOT / "emnist_sketchpad_data"  # the same folders in an installed (non-editable) copy


def shipped_file(relative: str) -> Path:
    """The clone's file if it is there, else the installed copy's; the clone's path when neither is,
    so that a message about a missing file names the place it belongs."""
    clone = ROOT / relative
    if clone.exists():
        return clone
    installed = INSTALLED / relative
    return installed if installed.exists() else clone
