from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from uniflow import projects
from uniflow.catalog import Catalog
from uniflow.errors import ConfigError, PipelineError, PipelineNotFound


def make_project(root, toml='[project]\nname = "demo"\n', **modules):
    (root / "pipelines").mkdir(parents=True)
    (root / "uniflow.toml").write_text(toml)
    for name, text in modules.items():
        (root / "pipelines" / f"{name}.py").write_text(text)
    return root


PIPELINE = """
from uniflow import pipeline

print("imported!")

@pipeline
def hello(name: str = "world") -> str:
    '''Say hello.'''
    return name
"""


def test_find_walks_up_to_the_project(tmp_path):
    root = make_project(tmp_path / "p", a=PIPELINE)
    found = projects.find(root / "pipelines")
    assert found is not None and found.name == "demo" and found.root == root
    assert projects.find(tmp_path) is None


def test_name_defaults_to_default(tmp_path):
    root = make_project(tmp_path / "p", toml="")
    assert projects.load(root).name == "default"


@pytest.mark.parametrize(
    "toml",
    [
        "[project\n",
        '[project]\nname = ""\n',
        '[project]\nname = "a b"\n',
        "[project]\nname = 3\n",
        "[project]\npipelines = 3\n",
    ],
)
def test_bad_config_is_refused(tmp_path, toml):
    root = make_project(tmp_path / "p", toml=toml)
    with pytest.raises(ConfigError):
        projects.load(root)


@pytest.mark.parametrize(
    "make",
    [
        lambda path: os.mkfifo(path),
        lambda path: path.symlink_to("/dev/zero"),
        lambda path: path.write_bytes(b"#" * (2 << 20)),
    ],
    ids=["fifo", "link-to-dev-zero", "over-1-mib"],
)
def test_config_that_is_no_small_file_is_refused_at_once(tmp_path, make):
    root = tmp_path / "p"
    root.mkdir()
    make(root / "uniflow.toml")

    # At once: neither a FIFO without a writer nor an endless device may hang it,
    # and one found from a folder inside says so too, rather than being passed by.
    with pytest.raises(ConfigError, match="a regular file of at most 1 MiB"):
        projects.load(root)
    (root / "pipelines").mkdir()
    with pytest.raises(ConfigError, match="a regular file of at most 1 MiB"):
        projects.find(root / "pipelines")


def test_missing_config_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="uniflow.toml"):
        projects.load(tmp_path)


def test_describe_runs_in_a_child(tmp_path):
    root = make_project(tmp_path / "p", a=PIPELINE)
    described = Catalog().describe(root)
    assert described.project == "demo"
    assert described.pipeline("hello")["description"] == "Say hello."
    assert "hello" not in sys.modules  # the code was never imported here
    with pytest.raises(PipelineNotFound, match="'hello'"):
        described.pipeline("nope")


def test_describe_is_cached_until_a_change(tmp_path):
    root = make_project(tmp_path / "p", a=PIPELINE)
    catalog = Catalog()
    first = catalog.describe(root)
    assert catalog.describe(root) is first
    (root / "pipelines" / "b.py").write_text(PIPELINE.replace("hello", "bye"))
    assert set(catalog.describe(root).pipelines) == {"hello", "bye"}


def test_broken_module_is_a_clear_error(tmp_path):
    root = make_project(tmp_path / "p", a="import nonexistent_module_xyz\n")
    with pytest.raises(PipelineError, match="nonexistent_module_xyz"):
        Catalog().describe(root)


def test_broken_project_is_described_once_until_fixed(tmp_path):
    marker = tmp_path / "imports"
    broken = f"open({str(marker)!r}, 'a').write('x')\nimport nonexistent_module_xyz\n"
    root = make_project(tmp_path / "p", a=broken)
    catalog = Catalog()

    for _ in range(3):
        with pytest.raises(PipelineError, match="nonexistent_module_xyz"):
            catalog.describe(root)
    assert marker.read_text() == "x"

    (root / "pipelines" / "a.py").write_text(PIPELINE)
    assert set(catalog.describe(root).pipelines) == {"hello"}


def test_describe_output_is_json_only(tmp_path):
    root = make_project(tmp_path / "p", a=PIPELINE)
    done = subprocess.run(
        [sys.executable, "-m", "uniflow.runner", "--describe", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["pipelines"][0]["name"] == "hello"
    assert "imported!" in done.stderr


@pytest.mark.parametrize("entry", ["../", "/usr/lib"])
def test_pipelines_outside_are_refused(tmp_path, entry):
    root = make_project(
        tmp_path / "p", toml=f'[project]\npipelines = ["{entry}"]\n', a=PIPELINE
    )
    with pytest.raises(ConfigError, match="outside the project"):
        Catalog().describe(root)


def test_exit_at_import_is_explained(tmp_path):
    root = make_project(tmp_path / "p", a="import sys\nsys.exit(3)\n")
    with pytest.raises(PipelineError, match=r"sys.exit\(3\) when imported"):
        Catalog().describe(root)


def test_names_that_only_start_like_a_secret_are_fine():
    from uniflow import tokens

    assert projects.validate_name("uf_models") == "uf_models"
    with pytest.raises(ConfigError, match="holds a token's secret"):
        projects.validate_name(tokens.new_secret())
