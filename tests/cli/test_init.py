"""``uniflow init``: a new project that runs as it is, and never a file written over.

Each call is the real command in a subprocess; the project it writes is run by a
real daemon that the CLI starts in the test's own home.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uniflow import projects
from uniflow.catalog import Catalog

FILES = ("uniflow.toml", "pipelines/hello.py")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_new_project_runs_at_once(cli, tmp_path):
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")
    folder = tmp_path / "first-flow"

    created = cli("init", str(folder), cwd=tmp_path)
    done = cli("run", "hello", "--wait", cwd=folder)

    assert created.code == 0, created
    assert "cd first-flow && uniflow run hello --wait" in created.out
    assert done.code == 0, done
    assert "hello (first-flow)" in done.out
    assert "success" in done.out
    assert "Hello, world." in done.out


def test_new_project_takes_typed_parameters(cli, tmp_path):
    (cli.home / "config.toml").write_text("[daemon]\nport = 0\n")
    folder = tmp_path / "typed-flow"
    assert cli("init", str(folder)).code == 0

    done = cli(
        "run", "hello", "-p", "name=Ada", "-p", "times=2", "-p", "excited=true",
        "--wait", "--output", "json", cwd=folder,
    )  # fmt: skip
    refused = cli("run", "hello", "-p", "times=two", cwd=folder)

    assert done.code == 0, done
    run = json.loads(done.out)
    assert run["parameters"] == {"name": "Ada", "times": 2, "excited": True}
    assert run["result"]["greeting"] == "Hello, Ada!"
    saved = Path(run["result"]["saved"]).read_text(encoding="utf-8")
    assert saved == "Hello, Ada!\nHello, Ada!\n"
    assert [s["name"] for s in run["steps"]] == ["compose", "save"]
    assert refused.code == 2, refused
    assert "times" in refused.said


def test_init_uses_the_current_folder(cli, tmp_path):
    folder = tmp_path / "Notes_2024"
    folder.mkdir()

    done = cli("init", cwd=folder)

    assert done.code == 0, done
    assert "uniflow run hello --wait" in done.out
    assert "cd " not in done.out
    assert sorted(_tree(folder)) == sorted(FILES)
    assert projects.load(folder).name == "Notes_2024"


def test_example_pipeline_has_typed_parameters(cli, tmp_path):
    folder = tmp_path / "described"
    assert cli("init", str(folder)).code == 0

    hello = Catalog().describe(folder).pipeline("hello")

    schema = hello["parameters"]
    types = {name: prop["type"] for name, prop in schema["properties"].items()}
    assert types == {"name": "string", "times": "integer", "excited": "boolean"}
    assert schema.get("required", []) == []
    assert hello["description"]


def test_missing_folders_are_created(cli, tmp_path):
    done = cli("init", "a/b/deep", cwd=tmp_path)

    assert done.code == 0, done
    assert projects.load(tmp_path / "a" / "b" / "deep").name == "deep"


@pytest.mark.parametrize("existing", FILES)
def test_existing_file_is_never_overwritten(cli, tmp_path, existing):
    folder = tmp_path / "taken"
    (folder / existing).parent.mkdir(parents=True)
    (folder / existing).write_bytes(b"mine \x00\xff\n")

    done = cli("init", str(folder))

    assert done.code == 1, done
    assert str(folder / existing) in done.err
    assert "Nothing was written" in done.err
    assert len(done.err.strip().splitlines()) == 1
    assert done.out == ""
    assert _tree(folder) == {existing: b"mine \x00\xff\n"}


def test_second_init_changes_nothing(cli, tmp_path):
    folder = tmp_path / "twice"
    assert cli("init", str(folder)).code == 0
    (folder / "pipelines" / "hello.py").write_text("# edited\n")
    before = _tree(folder)

    done = cli("init", str(folder))

    assert done.code == 1, done
    assert all(str(folder / name) in done.err for name in FILES)
    assert _tree(folder) == before


def test_pipelines_file_in_the_way_is_refused(cli, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "pipelines").write_text("not a folder")

    done = cli("init", str(folder))

    assert done.code == 1, done
    assert f"{folder / 'pipelines'} already exists" in done.err
    assert "hello.py" not in done.err  # the file in the way is named, not ours
    assert _tree(folder) == {"pipelines": b"not a folder"}


def test_folder_name_that_is_no_project_name(cli, tmp_path):
    folder = tmp_path / "my project"
    folder.mkdir()

    refused = cli("init", cwd=folder)
    named = cli("init", "--name", "my-project", cwd=folder)

    assert refused.code == 2, refused
    assert "'my project' is not a valid project name" in refused.err
    assert "uniflow init --name my-project" in refused.err
    assert named.code == 0, named
    assert projects.load(folder).name == "my-project"


def test_refused_name_creates_no_folder(cli, tmp_path):
    bad_folder = cli("init", "_scratch", cwd=tmp_path)
    bad_option = cli("init", "fine", "--name", "no spaces", cwd=tmp_path)

    assert bad_folder.code == 2, bad_folder
    assert "uniflow init _scratch --name scratch" in bad_folder.err
    assert bad_option.code == 2, bad_option
    assert "Invalid project name 'no spaces'" in bad_option.err
    assert list(tmp_path.iterdir()) == []


def test_file_given_as_folder_is_refused(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("keep")

    done = cli("init", "notes.txt", "--name", "notes", cwd=tmp_path)

    assert done.code == 2, done
    assert "is a file, not a folder" in done.err
    assert (tmp_path / "notes.txt").read_text() == "keep"
