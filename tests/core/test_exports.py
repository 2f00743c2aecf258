from __future__ import annotations

import subprocess
import sys

import pytest

import uniflow


def test_all_lists_public_names_sorted():
    for name in uniflow.__all__:
        getattr(uniflow, name)  # Imported on first use.
    public = {
        name
        for name, value in vars(uniflow).items()
        if not name.startswith("_") and not getattr(value, "__file__", None)
    }
    public -= {"annotations", "importlib", "TYPE_CHECKING", "Any"}  # imports
    assert sorted(uniflow.__all__) == uniflow.__all__
    assert set(uniflow.__all__) - {"__version__"} == public
    assert set(uniflow.__all__) <= set(dir(uniflow))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="Clinet"):
        uniflow.Clinet  # noqa: B018


def test_importing_uniflow_loads_neither_client_nor_pipelines():
    probe = (
        "import sys, uniflow; "
        "print(sorted(m for m in sys.modules if m.startswith('uniflow')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert done.stdout.strip() == "['uniflow']"
