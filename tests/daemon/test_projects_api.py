"""Registering project folders over the REST API: admin only, absolute paths."""

from __future__ import annotations

import uuid

PIPELINE = """
from uniflow import pipeline


@pipeline
def ping() -> str:
    return "pong"
"""


def make_project(folder, name):
    (folder / "pipelines").mkdir(parents=True)
    (folder / "pipelines" / "ping.py").write_text(PIPELINE, encoding="utf-8")
    (folder / "uniflow.toml").write_text(
        f'[project]\nname = "{name}"\npipelines = ["pipelines"]\n', encoding="utf-8"
    )
    return folder


def project_names(client):
    return [p["name"] for p in client.get("/api/v1/projects").json()["projects"]]


def test_admin_registers_a_project(admin, tmp_path, operator, wait_run):
    name = f"p-{uuid.uuid4().hex[:8]}"
    folder = make_project(tmp_path / name, name)

    first = admin.post("/api/v1/projects", json={"name": name, "path": str(folder)})
    again = admin.post("/api/v1/projects", json={"name": name, "path": str(folder)})

    assert first.status_code == 201, first.text
    assert first.json() == {"name": name, "path": str(folder)}
    assert again.status_code == 200, again.text
    assert name in project_names(admin)
    run = operator.post("/api/v1/runs", json={"pipeline_name": "ping", "project": name})
    assert run.status_code == 201, run.text
    assert wait_run(run.json()["run_id"])["result"] == "pong"


def test_operator_cannot_register(operator, admin, tmp_path, problem):
    name = f"p-{uuid.uuid4().hex[:8]}"
    folder = make_project(tmp_path / name, name)

    answer = operator.post("/api/v1/projects", json={"name": name, "path": str(folder)})

    problem(answer, 403)
    assert name not in project_names(admin)


def test_relative_project_path_gets_422(admin, problem):
    name = f"p-{uuid.uuid4().hex[:8]}"

    answer = admin.post(
        "/api/v1/projects", json={"name": name, "path": f"projects/{name}"}
    )

    # A bad path in the body is invalid input (422), not a missing resource.
    body = problem(answer, 422)
    assert "absolute" in body["detail"]
    assert name not in project_names(admin)


def test_folder_without_toml_is_refused(admin, tmp_path, problem):
    folder = tmp_path / "bare"
    folder.mkdir()

    answer = admin.post("/api/v1/projects", json={"name": "bare", "path": str(folder)})

    body = problem(answer, 422)
    assert "uniflow.toml" in body["detail"]
    assert str(folder) in body["detail"]
    assert "bare" not in project_names(admin)


def test_name_unlike_the_toml_gets_422(admin, tmp_path, problem):
    name = f"p-{uuid.uuid4().hex[:8]}"
    folder = make_project(tmp_path / name, name)

    answer = admin.post(
        "/api/v1/projects", json={"name": "other-name", "path": str(folder)}
    )

    body = problem(answer, 422)
    assert name in body["detail"] and "other-name" in body["detail"]
    assert "other-name" not in project_names(admin)


def test_broken_pipeline_module_gets_422(admin, tmp_path, problem):
    name = f"p-{uuid.uuid4().hex[:8]}"
    folder = make_project(tmp_path / name, name)
    (folder / "pipelines" / "broken.py").write_text("import nope_not_here\n")

    answer = admin.post("/api/v1/projects", json={"name": name, "path": str(folder)})

    body = problem(answer, 422)
    assert "broken.py" in body["detail"]
    assert name not in project_names(admin)
