"""Where the templates, bundled data, sample class and shipped specs live.

After a wheel install they sit inside the package (see pyproject.toml); in a
source checkout they are the top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT_DIR = _PACKAGE_DIR.parent


def _locate(installed_name: str, checkout_name: str) -> Path:
    installed = _PACKAGE_DIR / installed_name
    if installed.is_dir():
        return installed
    checkout = _CHECKOUT_DIR / checkout_name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"nngrade cannot find its {checkout_name!r} folder: looked in {installed} "
        f"and {checkout}. Reinstall nngrade with 'pip install .' from a full "
        "checkout."
    )


def templates_dir() -> Path:
    """The folder of Jinja2 templates for every HTML page."""
    return _locate("templates", "templates")


def bundled_datasets_dir() -> Path:
    """The UCI data sets converted to the course format that ship with nngrade."""
    return _locate("uci_datasets", "uci_datasets")


def sample_class_dir() -> Path:
    """The sample class of submissions, the default input of ``nngrade grade``."""
    return _locate("sample_class", "submissions")


def assignments_dir() -> Path:
    """The shipped assignment specs."""
    return _PACKAGE_DIR / "assignments"
