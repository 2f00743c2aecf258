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
    return [p["name"] for p in client.get("/api/v1/projects").json()["items"]]


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


def register(client, name, folder):
    return client.post("/api/v1/projects", json={"name": name, "path": str(folder)})


def test_same_name_elsewhere_is_409(admin, tmp_path, problem):
    name = f"p-{uuid.uuid4().hex[:8]}"
    first = make_project(tmp_path / "a", name)
    second = make_project(tmp_path / "b", name)
    assert register(admin, name, first).status_code == 201

    body = problem(register(admin, name, second), 409)

    assert str(first) in body["detail"]
    assert f"uniflow projects remove {name}" in body["detail"]
    projects = admin.get("/api/v1/projects").json()["items"]
    assert {"name": name, "path": str(first)} in projects


def test_moved_project_takes_its_name(admin, tmp_path):
    name = f"p-{uuid.uuid4().hex[:8]}"
    old = make_project(tmp_path / "old", name)
    assert register(admin, name, old).status_code == 201
    new = old.rename(tmp_path / "new")

    answer = register(admin, name, new)

    assert answer.status_code == 201, answer.text
    assert answer.json()["path"] == str(new)


def test_removed_project_is_forgotten(admin, operator, tmp_path, problem):
    name = f"p-{uuid.uuid4().hex[:8]}"
    folder = make_project(tmp_path / name, name)
    register(admin, name, folder)

    problem(operator.delete(f"/api/v1/projects/{name}"), 403)
    answer = admin.delete(f"/api/v1/projects/{name}")

    assert answer.status_code == 200, answer.text
    assert name not in project_names(admin)
    problem(admin.delete(f"/api/v1/projects/{name}"), 404)


def test_broken_project_hides_no_other(admin, tmp_path):
    name = f"p-{uuid.uuid4().hex[:8]}"
    folder = make_project(tmp_path / name, name)
    register(admin, name, folder)
    (folder / "pipelines" / "ping.py").write_text("def broken(:\n")

    answer = admin.get("/api/v1/pipelines")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "hello" in {p["name"] for p in body["items"]}
    [broken] = [p for p in body["problems"] if p["project"] == name]
    assert "SyntaxError" in broken["detail"] and "line 1" in broken["detail"]

    only = admin.get("/api/v1/pipelines", params={"project": name})
    assert only.status_code == 200, only.text
    assert only.json()["items"] == []
    assert [p["project"] for p in only.json()["problems"]] == [name]
    admin.delete(f"/api/v1/projects/{name}")


def test_name_holding_a_secret_gets_422_unquoted(admin, tmp_path, problem):
    from uniflow import tokens

    secret = tokens.new_secret()
    folder = make_project(tmp_path / "leaky", secret)

    answer = admin.post("/api/v1/projects", json={"name": secret, "path": str(folder)})

    body = problem(answer, 422)
    assert "holds a token's secret" in body["detail"]
    assert secret not in answer.text
    assert secret not in project_names(admin)


def test_path_holding_a_secret_gets_422_unquoted(admin, tmp_path, problem):
    from uniflow import tokens

    secret = tokens.new_secret()
    folder = make_project(tmp_path / f"d{secret}", "leakypath")

    answer = admin.post(
        "/api/v1/projects", json={"name": "leakypath", "path": str(folder)}
    )

    body = problem(answer, 422)
    assert "holds a token's secret" in body["detail"]
    assert secret not in answer.text
    assert secret not in admin.get("/api/v1/projects").text


def test_log_masks_what_looks_like_a_secret(admin, daemon, tmp_path):
    # A mistyped secret (its checksum wrong) is a valid name, but the log, which
    # anyone debugging reads and pastes, shows it masked.
    name = "uf_" + "Ab1" * 12
    folder = make_project(tmp_path / "typo", name)

    answer = admin.post("/api/v1/projects", json={"name": name, "path": str(folder)})

    assert answer.status_code == 201, answer.text
    log = (daemon.home / "daemon.log").read_text(encoding="utf-8")
    assert "uf_…(a secret, not shown) registered" in log
    assert name not in log
    admin.delete(f"/api/v1/projects/{name}")
