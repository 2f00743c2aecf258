"""The daemon's Flask app: the REST API, its error shape and its docs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Response, g, jsonify, redirect, request
from flask_openapi3 import APIBlueprint, Info, OpenAPI, Tag
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

import uniflow
from uniflow import jsondata, parameters, projects, tokens
from uniflow.catalog import Catalog
from uniflow.daemon import auth
from uniflow.daemon.models import (
    CreateToken,
    NewToken,
    PipelineQuery,
    Problem,
    ProjectPath,
    RegisterProject,
    RunList,
    RunOut,
    RunPath,
    RunQuery,
    TokenList,
    TokenOut,
    TokenPath,
    TriggerRun,
)
from uniflow.daemon.problems import from_error, problem
from uniflow.daemon.supervisor import Supervisor
from uniflow.errors import (
    ConfigError,
    PipelineError,
    ProjectError,
    RunNotFound,
    UniFlowError,
)
from uniflow.runs import Run, new_run_id
from uniflow.store import Store
from uniflow.tokens import Role

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
ERRORS: dict[int, Any] = {
    str(code): Problem
    for code in (400, 401, 403, 404, 415, 422)  # type: ignore[misc]
}
BEARER = [{"bearer": []}]


def create_app(store: Store, supervisor: Supervisor, catalog: Catalog) -> OpenAPI:
    """Return the daemon's app over a store, a supervisor and a catalog."""
    app = OpenAPI(
        __name__,
        info=Info(title="UniFlow API", version=uniflow.__version__),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        validation_error_status=422,
        validation_error_callback=_validation_problem,
        doc_prefix="/openapi",
    )
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    @app.before_request
    def check() -> Response | None:
        if not request.path.startswith("/api/"):
            return None
        return auth.check_request(store) or _check_body()

    app.register_error_handler(UniFlowError, from_error)
    app.register_error_handler(HTTPException, _http_problem)
    app.register_error_handler(Exception, _internal_problem)

    app.get("/healthz", doc_ui=False)(_health)
    app.get("/docs", doc_ui=False)(lambda: redirect("/openapi/swagger", code=302))
    app.register_api(_api(store, supervisor, catalog))
    return app


def _health() -> Response:
    return jsonify(status="ok", service="uniflow", version=uniflow.__version__)


def _api(store: Store, supervisor: Supervisor, catalog: Catalog) -> APIBlueprint:
    api = APIBlueprint(
        "api",
        __name__,
        url_prefix="/api/v1",
        abp_security=BEARER,
        abp_responses=ERRORS,
    )

    def project_root(name: str) -> Path:
        path = store.project_path(name)
        if path is None:
            raise ProjectError(
                f"No project {name!r} is registered; run `uniflow run` inside the "
                "project's folder once, or register it with POST /api/v1/projects.",
                project=name,
                found=False,
            )
        return Path(path)

    _add_run_routes(api, store, supervisor, catalog, project_root)
    _add_project_routes(api, store, catalog, project_root)
    _add_token_routes(api, store)
    return api


def _add_run_routes(
    api: APIBlueprint,
    store: Store,
    supervisor: Supervisor,
    catalog: Catalog,
    project_root: Callable[[str], Path],
) -> None:
    runs_tag = Tag(name="runs")

    @api.post(
        "/runs", tags=[runs_tag], summary="Trigger a run", responses={201: RunOut}
    )
    @auth.requires(Role.OPERATOR)
    def trigger_run(body: TriggerRun) -> Any:
        """Queue a run of a pipeline with parameters; answers at once with it."""
        described = catalog.describe(project_root(body.project))
        schema = described.pipeline(body.pipeline_name)["parameters"]
        resolved = parameters.resolve(
            schema, body.parameters, pipeline=body.pipeline_name
        )
        run = Run(
            run_id=new_run_id(),
            pipeline_name=body.pipeline_name,
            project=body.project,
            parameters=resolved,
        )
        store.add_run(run)
        supervisor.submit(run.run_id)
        logger.info("Run %s queued by token %s", run.run_id, g.token.token_id)
        answer = jsonify(run.to_dict())
        answer.status_code = 201
        answer.headers["Location"] = f"/api/v1/runs/{run.run_id}"
        return answer

    @api.get(
        "/runs/<run_id>", tags=[runs_tag], summary="Show a run", responses={200: RunOut}
    )
    @auth.requires(Role.VIEWER)
    def get_run(path: RunPath) -> Any:
        """Return one run with its parameters, state and steps."""
        run = store.run(path.run_id)
        if run is None:
            raise RunNotFound(path.run_id)
        return jsonify(run.to_dict())

    @api.get("/runs", tags=[runs_tag], summary="List runs", responses={200: RunList})
    @auth.requires(Role.VIEWER)
    def list_runs(query: RunQuery) -> Any:
        """Return runs, newest first, filtered by pipeline and status."""
        found = store.runs(
            pipeline_name=query.pipeline_name, status=query.status, limit=query.limit
        )
        return jsonify(runs=[r.to_dict() for r in found])


def _add_project_routes(
    api: APIBlueprint,
    store: Store,
    catalog: Catalog,
    project_root: Callable[[str], Path],
) -> None:
    pipelines_tag, projects_tag = Tag(name="pipelines"), Tag(name="projects")

    @api.get("/pipelines", tags=[pipelines_tag], summary="List pipelines")
    @auth.requires(Role.VIEWER)
    def list_pipelines(query: PipelineQuery) -> Any:
        """Return the pipelines of one project, or of all, with parameter schemas."""
        if query.project:
            described = catalog.describe(project_root(query.project))
            found = [
                {**p, "project": query.project} for p in described.pipelines.values()
            ]
            return jsonify(pipelines=found, problems=[])

        # Across all projects, one broken project must not hide the others.
        found, problems = [], []
        for name, root in store.projects().items():
            try:
                described = catalog.describe(Path(root))
            except (ConfigError, PipelineError) as exc:
                problems.append({"project": name, "detail": str(exc)})
                continue
            found.extend({**p, "project": name} for p in described.pipelines.values())
        return jsonify(pipelines=found, problems=problems)

    @api.get("/projects", tags=[projects_tag], summary="List projects")
    @auth.requires(Role.VIEWER)
    def list_projects() -> Any:
        """Return the registered projects and their folders."""
        found = [{"name": n, "path": p} for n, p in store.projects().items()]
        return jsonify(projects=found)

    @api.post("/projects", tags=[projects_tag], summary="Register a project")
    @auth.requires(Role.ADMIN)
    def register_project(body: RegisterProject) -> Any:
        """Register a project folder; this allows running its code, so admin only."""
        root = Path(body.path)
        if root.is_absolute() and root.is_dir():
            catalog.describe(root)  # a project whose code cannot load is refused
        changed = projects.register(store, body.name, body.path)
        if changed:
            logger.info(
                "Project %s registered by token %s", body.name, g.token.token_id
            )
        answer = jsonify(name=body.name, path=store.project_path(body.name))
        answer.status_code = 201 if changed else 200
        return answer

    @api.delete("/projects/<name>", tags=[projects_tag], summary="Remove a project")
    @auth.requires(Role.ADMIN)
    def remove_project(path: ProjectPath) -> Any:
        """Forget a registered project; its runs stay in the history."""
        root = project_root(path.name)
        store.remove_project(path.name)
        logger.info("Project %s removed by token %s", path.name, g.token.token_id)
        return jsonify(name=path.name, path=str(root))


def _add_token_routes(api: APIBlueprint, store: Store) -> None:
    tokens_tag = Tag(name="tokens")

    @api.get(
        "/tokens", tags=[tokens_tag], summary="List tokens", responses={200: TokenList}
    )
    @auth.requires(Role.ADMIN)
    def list_tokens() -> Any:
        """Return every token, active and revoked, never a secret."""
        return jsonify(tokens=[t.to_dict() for t in store.tokens()])

    @api.post(
        "/tokens",
        tags=[tokens_tag],
        summary="Create a token",
        responses={201: NewToken},
    )
    @auth.requires(Role.ADMIN)
    def create_token(body: CreateToken) -> Any:
        """Create a token; its secret is in this answer and never again."""
        token, secret = tokens.issue(store, body.name, body.role)
        logger.info("Token %s created by token %s", token.token_id, g.token.token_id)
        answer = jsonify({**token.to_dict(), "secret": secret})
        answer.status_code = 201
        answer.headers["Cache-Control"] = "no-store"
        return answer

    @api.post(
        "/tokens/<token_id>/revoke",
        tags=[tokens_tag],
        summary="Revoke a token",
        responses={200: TokenOut},
    )
    @auth.requires(Role.ADMIN)
    def revoke_token(path: TokenPath) -> Any:
        """Revoke a token at once: its next request gets 401."""
        token = tokens.revoke(store, path.token_id)
        logger.info("Token %s revoked by token %s", token.token_id, g.token.token_id)
        return jsonify(token.to_dict())


def _check_body() -> Response | None:
    if request.method not in ("POST", "PUT", "PATCH") or not request.content_length:
        return None
    if not request.is_json:
        return problem(
            415,
            f"The body must be JSON, sent with 'Content-Type: application/json'; "
            f"got {request.mimetype or 'no content type'!r}.",
            kind="unsupported-media-type",
        )
    try:
        body = jsondata.loads(request.get_data())
    except ValueError as exc:
        return problem(400, f"The body is not valid JSON: {exc}", kind="malformed-json")
    if not isinstance(body, dict):
        message = "must be a JSON object"
        return problem(
            422,
            f"The request is invalid: the body {message}.",
            kind="validation",
            errors=[{"field": "", "location": "body", "message": message}],
        )
    return None


def _validation_problem(exc: ValidationError) -> Response:
    title = exc.title
    location = (
        "query"
        if title.endswith("Query")
        else "path"
        if title.endswith("Path")
        else "body"
    )
    fields = [
        {
            "field": ".".join(str(p) for p in e["loc"]),
            "location": location,
            "message": e["msg"],
        }
        for e in exc.errors(include_url=False)
    ]
    listed = "; ".join(f"{f['field'] or location}: {f['message']}" for f in fields)
    return problem(
        422, f"The request is invalid: {listed}.", kind="validation", errors=fields
    )


def _http_problem(exc: HTTPException) -> Response:
    status = exc.code or 500
    details = {
        404: f"No endpoint at {request.path!r}; see /docs for the API.",
        405: f"{request.method} is not allowed on {request.path!r}.",
        413: f"The body is larger than {MAX_BODY} bytes.",
    }
    answer = problem(status, details.get(status, exc.description or exc.name))
    if status == 405 and exc.get_response().headers.get("Allow"):
        answer.headers["Allow"] = exc.get_response().headers["Allow"]
    return answer


def _internal_problem(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _http_problem(exc)
    request_id = uuid.uuid4().hex[:12]
    logger.error("Request %s failed", request_id, exc_info=exc)
    answer = problem(
        500,
        f"The daemon failed on this request; its log has the cause under request id "
        f"{request_id}.",
        kind="internal",
        request_id=request_id,
    )
    answer.headers["X-Request-Id"] = request_id
    return answer
