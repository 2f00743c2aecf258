"""The daemon's Flask app: the REST API, its error shape and its docs."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Response, current_app, g, jsonify, redirect, request
from flask_openapi3 import APIBlueprint, Info, OpenAPI, Tag
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

import uniflow
from uniflow import durations, jsondata, parameters, projects, runs
from uniflow.audit import Action
from uniflow.catalog import Catalog
from uniflow.config import Settings
from uniflow.daemon import auth, idempotency
from uniflow.daemon.logs import add_log_routes
from uniflow.daemon.models import (
    Created,
    DaemonStatus,
    Health,
    PageQuery,
    PipelineList,
    PipelineQuery,
    ProjectList,
    ProjectOut,
    ProjectPath,
    Pruned,
    PruneRuns,
    RegisterProject,
    Replayed,
    RunList,
    RunOut,
    RunPath,
    RunQuery,
    TriggerHeaders,
    TriggerRun,
    ValidationProblem,
    error_answers,
)
from uniflow.daemon.paging import bad_cursor, in_order, page, read_cursor, to_json
from uniflow.daemon.problems import (
    MEDIA_TYPE,
    from_error,
    problem,
)
from uniflow.daemon.supervisor import Supervisor
from uniflow.daemon.throttle import TriggerLimit, Window
from uniflow.daemon.tokens_api import add_token_routes
from uniflow.errors import (
    ConfigError,
    DaemonStopping,
    PipelineError,
    ProjectError,
    UniFlowError,
    shorten,
)
from uniflow.runs import Run, RunStatus, new_run_id, timestamp
from uniflow.store import Store
from uniflow.tokens import Policy, Role

logger = logging.getLogger(__name__)

BEARER = [{"bearer": []}]
API_DESCRIPTION = """\
Trigger and watch UniFlow pipeline runs, and manage projects and tokens.

Every `/api/v1` request needs a token: `Authorization: Bearer <token>`. Roles: a
*viewer* reads, an *operator* also triggers and cancels runs, an *admin* also
manages projects and tokens. A token may be limited to one project, and expires
(90 days unless told otherwise). Create one with `uniflow token create --name NAME
--role ROLE`, then press **Authorize** above.

Every error is an RFC 9457 `application/problem+json` body with `type`, `title`,
`status` and `detail`; a 422 also lists each invalid field in `errors`. Lists are
paged: pass a page's `next_cursor` as `cursor` to get the next one.
"""


# The headers some answers carry, documented on every answer with that status.
_HEADERS = {
    "401": {
        "WWW-Authenticate": '`Bearer realm="uniflow"`, with `error="invalid_token"` '
        "when the request sent a token."
    },
    "429": {
        "Retry-After": "Seconds until the token may trigger, or the client "
        "authenticate, again."
    },
    "503": {"Retry-After": "Seconds until the daemon may take runs again."},
    "500": {"X-Request-Id": "The id of the daemon's log line with the cause."},
}


class _OpenAPI(OpenAPI):
    """flask-openapi3's app, with error answers documented as problem+json."""

    def generate_spec_json(self) -> None:
        super().generate_spec_json()  # type: ignore[no-untyped-call]
        for operations in self.spec_json["paths"].values():
            for operation in operations.values():
                if "parameters" not in operation and "requestBody" not in operation:
                    # flask-openapi3 adds a 422 to every operation; one that takes
                    # no input cannot answer it.
                    operation.get("responses", {}).pop("422", None)
                for status, answer in operation.get("responses", {}).items():
                    # flask-openapi3 documents every model answer as
                    # application/json; error answers are application/problem+json.
                    content = answer.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        content[MEDIA_TYPE] = content.pop("application/json")
                    for name, text in _HEADERS.get(status, {}).items():
                        answer.setdefault("headers", {})[name] = {
                            "description": text,
                            "schema": {"type": "string"},
                        }


def create_app(
    store: Store,
    supervisor: Supervisor,
    catalog: Catalog,
    settings: Settings | None = None,
) -> OpenAPI:
    """Return the daemon's app over a store, a supervisor and a catalog."""
    settings = settings or Settings()
    app = _OpenAPI(
        __name__,
        info=Info(
            title="UniFlow API",
            version=uniflow.__version__,
            description=API_DESCRIPTION,
        ),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        validation_error_status=422,
        validation_error_model=ValidationProblem,
        validation_error_callback=_validation_problem,
        doc_prefix="/docs",
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    # "/api/v1//runs" is a 404, not a redirect built from the Host header.
    app.url_map.merge_slashes = False
    # Swagger UI reads the spec from its one public address, and never sends that
    # address to swagger.io's validator (it would, for a host other than localhost).
    app.config["SWAGGER_CONFIG"] = {"url": "/openapi.json", "validatorUrl": None}
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    guard = auth.Guard(
        store=store,
        views=app.view_functions,
        allowed_hosts=auth.LOOPBACK_NAMES
        | set(settings.allowed_hosts)
        | (
            {settings.host.lower()} if settings.host not in ("0.0.0.0", "::") else set()
        ),
        failures=Window(settings.auth_failure_limit)
        if settings.auth_failure_limit
        else None,
    )

    @app.before_request
    def check() -> Response | None:
        g.started = time.perf_counter()
        refused = auth.check_origin(guard)
        # OPTIONS only lists the allowed methods, whatever the role.
        if (
            refused
            or not request.path.startswith("/api/")
            or request.method == "OPTIONS"
        ):
            return refused
        return auth.check_request(guard) or _check_body()

    @app.after_request
    def timing(response: Response) -> Response:
        if "started" in g:
            elapsed = (time.perf_counter() - g.started) * 1000
            response.headers["Server-Timing"] = f"app;dur={elapsed:.2f}"
        # No other site may frame the docs page, where a token is pasted, to
        # trick clicks on it; nor may a browser guess a type the answer does not
        # declare.
        response.headers.update(_PAGE_HEADERS)
        return response

    app.register_error_handler(UniFlowError, from_error)
    app.register_error_handler(HTTPException, _http_problem)
    app.register_error_handler(Exception, _internal_problem)

    app.get(
        "/healthz",
        tags=[Tag(name="daemon", description="The daemon itself.")],
        summary="Check the daemon",
        description="Answers 200 while the daemon serves requests; needs no token.",
        responses={200: Health},
    )(_health)
    app.get("/openapi.json", doc_ui=False, endpoint="spec")(
        lambda: jsonify(app.api_doc)
    )
    app.get("/docs", doc_ui=False, endpoint="docs")(
        lambda: redirect("/docs/swagger", code=302)
    )
    limit = TriggerLimit(settings.trigger_limit) if settings.trigger_limit else None
    app.register_api(_api(store, supervisor, catalog, limit, settings.token_policy()))
    return app


_PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


def _health() -> Response:
    return jsonify(status="ok", service="uniflow", version=uniflow.__version__)


def _api(
    store: Store,
    supervisor: Supervisor,
    catalog: Catalog,
    limit: TriggerLimit | None,
    policy: Policy,
) -> APIBlueprint:
    api = APIBlueprint(
        "api",
        __name__,
        url_prefix="/api/v1",
        abp_security=BEARER,
        abp_responses=error_answers(400, 401, 403, 422, 500),
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

    _add_run_routes(api, store, supervisor, catalog, project_root, limit)
    _add_status_route(api, supervisor)
    _add_project_routes(api, store, catalog, project_root)
    add_token_routes(api, store, policy)
    return api


def _add_run_routes(
    api: APIBlueprint,
    store: Store,
    supervisor: Supervisor,
    catalog: Catalog,
    project_root: Callable[[str], Path],
    limit: TriggerLimit | None,
) -> None:
    runs_tag = Tag(name="runs", description="Trigger runs and follow them.")
    add_log_routes(api, store, runs_tag)
    _add_prune_route(api, store, runs_tag)

    @api.post(
        "/runs",
        tags=[runs_tag],
        summary="Trigger a run",
        description="Check the parameters against the pipeline's signature, record "
        "the run as `queued` and start it as soon as a slot is free; answers at once "
        "with the run and its `Location`. Needs the operator role. A token may "
        "trigger a limited number of runs a minute (429 past it). With an "
        "`Idempotency-Key`, a retry of the same request within 24 hours starts "
        "nothing and answers 200 with the first run as it stands now; the same key "
        "with another body is refused (422).",
        responses={
            201: Created,
            200: Replayed,
            **error_answers(404, 413, 415, 429, 503),
        },
    )
    @auth.requires(Role.OPERATOR)
    def trigger_run(body: TriggerRun, header: TriggerHeaders) -> Any:
        token_id, key = g.token.token_id, header.idempotency_key
        # Requests with one key wait for each other, so a retry sent before the
        # first is answered is a replay too. A replay starts nothing, spends no
        # trigger and is answered even while the daemon stops.
        with idempotency.one_at_a_time(token_id, key):
            replayed = idempotency.earlier_answer(store, token_id, key, body)
            if replayed is not None:
                return replayed
            return start_run(body, token_id, key)

    def start_run(body: TriggerRun, token_id: str, key: str | None) -> Response:
        if not supervisor.accepting:
            raise DaemonStopping()
        auth.project_of(body.project)
        described = catalog.describe(project_root(body.project))
        target = described.pipeline(body.pipeline_name)
        schema = target["parameters"]
        resolved = parameters.resolve(
            schema, body.parameters, pipeline=body.pipeline_name
        )
        if limit is not None:  # counted only now: a refused request starts nothing
            # By name: a token's rotations share it, so rotating itself cannot give a
            # token a fresh allowance.
            limit.spend(g.token.name)
        run = Run(
            run_id=new_run_id(),
            pipeline_name=body.pipeline_name,
            project=body.project,
            parameters=resolved,
            timeout=target.get("timeout"),
        )
        replayed = idempotency.add_run(store, run, token_id, key, body)
        if replayed is not None:
            return replayed
        supervisor.submit(run.run_id)
        logger.info("Run %s queued by token %s", run.run_id, token_id)
        auth.record(
            store,
            Action.RUN_TRIGGER,
            target=run.run_id,
            detail=f"{run.project}/{run.pipeline_name}",
        )
        answer = jsonify(run.to_dict())
        answer.status_code = 201
        answer.headers["Location"] = f"/api/v1/runs/{run.run_id}"
        return answer

    @api.post(
        "/runs/<run_id>/cancel",
        tags=[runs_tag],
        summary="Cancel a run",
        description="Stop a run: a queued one is cancelled at once (200); a running "
        "one gets SIGTERM on its whole process group, SIGKILL after the grace period "
        "(`cancel_grace` in config.toml), and ends `cancelled` (202: poll the run). "
        "A run that has already ended answers 409 with its state. Needs the "
        "operator role.",
        responses={200: RunOut, 202: RunOut, **error_answers(404, 409, 413, 415)},
    )
    @auth.requires(Role.OPERATOR)
    def cancel_run(path: RunPath) -> Any:
        token = g.token
        auth.visible(store.run(path.run_id), path.run_id)
        run = supervisor.cancel(
            path.run_id, f"cancelled by token {token.name!r} ({token.token_id})"
        )
        logger.info("Run %s cancelled by token %s", run.run_id, token.token_id)
        auth.record(store, Action.RUN_CANCEL, target=run.run_id)
        answer = jsonify(run.to_dict())
        answer.status_code = 200 if run.status is RunStatus.CANCELLED else 202
        return answer

    @api.get(
        "/runs/<run_id>",
        tags=[runs_tag],
        summary="Show a run",
        description="Return one run with its parameters, state, result and steps. "
        "Needs the viewer role.",
        responses={200: RunOut, **error_answers(404)},
    )
    @auth.requires(Role.VIEWER)
    def get_run(path: RunPath) -> Any:
        return jsonify(auth.visible(store.run(path.run_id), path.run_id).to_dict())

    @api.get(
        "/runs",
        tags=[runs_tag],
        summary="List runs",
        description="Return a page of runs, newest first, optionally only those of "
        "one pipeline or in one state; results and steps are left out. Runs that "
        "start while you page do not shift the pages. Needs the viewer role.",
        responses={200: RunList},
    )
    @auth.requires(Role.VIEWER)
    def list_runs(query: RunQuery) -> Any:
        try:
            found, position = store.runs_json(
                pipeline_name=query.pipeline_name,
                status=query.status,
                project=auth.project_of(query.project),
                limit=query.limit,
                after=read_cursor("runs", query.cursor, str),
            )
        except ValueError:
            bad_cursor()
        return page(found, query, "runs", position)


def _add_status_route(api: APIBlueprint, supervisor: Supervisor) -> None:
    @api.get(
        "/status",
        tags=[Tag(name="daemon")],
        summary="Show the daemon's load",
        description="Return how many runs are running and queued (for a token "
        "limited to one project, that project's), how many may run at once, and "
        "whether the daemon takes new runs. Needs the viewer role.",
        responses={200: DaemonStatus},
    )
    @auth.requires(Role.VIEWER)
    def daemon_status() -> Any:
        return jsonify(
            version=uniflow.__version__,
            accepting_runs=supervisor.accepting,
            max_concurrent_runs=supervisor.max_concurrent,
            runs=supervisor.counts(g.token.project),
        )


def _add_prune_route(api: APIBlueprint, store: Store, runs_tag: Tag) -> None:
    @api.post(
        "/runs/prune",
        tags=[runs_tag],
        summary="Delete old runs",
        description="Delete the runs that ended (success, failed or cancelled) "
        "longer ago than `older_than`, with their steps and their folders (output "
        "and events); queued and running runs are never touched. Needs the admin "
        "role.",
        responses={200: Pruned, **error_answers(413, 415)},
    )
    @auth.requires(Role.ADMIN, all_projects=True)
    def prune_runs(body: PruneRuns) -> Any:
        moment = datetime.now(UTC) - durations.parse(body.older_than)
        deleted = runs.prune(store, moment)
        finished_before = timestamp(moment)
        logger.info(
            "%d runs that ended before %s deleted by token %s",
            len(deleted),
            finished_before,
            g.token.token_id,
        )
        auth.record(
            store,
            Action.RUNS_PRUNE,
            detail=f"{len(deleted)} runs that ended before {finished_before}",
        )
        return jsonify(deleted=len(deleted), finished_before=finished_before)


def _add_project_routes(
    api: APIBlueprint,
    store: Store,
    catalog: Catalog,
    project_root: Callable[[str], Path],
) -> None:
    pipelines_tag = Tag(name="pipelines", description="What can be run.")
    projects_tag = Tag(name="projects", description="Folders whose pipelines run.")

    @api.get(
        "/pipelines",
        tags=[pipelines_tag],
        summary="List pipelines",
        description="Return a page of pipelines with their parameters as JSON "
        "Schema, of one project or of all. A project whose code cannot be read is "
        "listed in `problems` and hides no other. Needs the viewer role.",
        responses={200: PipelineList, **error_answers(404)},
    )
    @auth.requires(Role.VIEWER)
    def list_pipelines(query: PipelineQuery) -> Any:
        project = auth.project_of(query.project)
        if project:
            roots = {project: project_root(project)}
        else:
            roots = {name: Path(root) for name, root in store.projects().items()}

        # One broken project must not hide the others.
        found, problems = [], []
        for name, root in roots.items():
            try:
                described = catalog.describe(root)
            except (ConfigError, PipelineError) as exc:
                problems.append({"project": name, "detail": shorten(str(exc), 2000)})
                continue
            found.extend({**p, "project": name} for p in described.pipelines.values())
        items, position = in_order(
            found, lambda p: [p["project"], p["name"]], query, "pipelines"
        )
        return page(to_json(items), query, "pipelines", position, problems=problems)

    @api.get(
        "/projects",
        tags=[projects_tag],
        summary="List projects",
        description="Return a page of the registered projects and their folders, "
        "by name. Needs the viewer role.",
        responses={200: ProjectList},
    )
    @auth.requires(Role.VIEWER)
    def list_projects(query: PageQuery) -> Any:
        scope = g.token.project
        found = [
            {"name": n, "path": p}
            for n, p in store.projects().items()
            if scope in (None, n)
        ]
        items, position = in_order(found, lambda p: [p["name"]], query, "projects")
        return page(to_json(items), query, "projects", position)

    @api.post(
        "/projects",
        tags=[projects_tag],
        summary="Register a project",
        description="Register a project folder under a name, so its pipelines can "
        "run; the folder's `uniflow.toml` must load. Registering the same folder "
        "again changes nothing (200); another folder under a taken name is refused "
        "(409). This allows running the folder's code, so it needs the admin role.",
        responses={201: ProjectOut, 200: ProjectOut, **error_answers(409, 413, 415)},
    )
    @auth.requires(Role.ADMIN, all_projects=True)
    def register_project(body: RegisterProject) -> Any:
        root = Path(body.path)
        if root.is_absolute() and root.is_dir():
            catalog.describe(root)  # a project whose code cannot load is refused
        changed = projects.register(store, body.name, body.path)
        if changed:
            logger.info(
                "Project %s registered by token %s", body.name, g.token.token_id
            )
            auth.record(
                store, Action.PROJECT_REGISTER, target=body.name, detail=body.path
            )
        answer = jsonify(name=body.name, path=store.project_path(body.name))
        answer.status_code = 201 if changed else 200
        return answer

    @api.delete(
        "/projects/<name>",
        tags=[projects_tag],
        summary="Remove a project",
        description="Forget a registered project; its runs stay in the history. "
        "Needs the admin role.",
        responses={200: ProjectOut, **error_answers(404)},
    )
    @auth.requires(Role.ADMIN, all_projects=True)
    def remove_project(path: ProjectPath) -> Any:
        root = project_root(path.name)
        store.remove_project(path.name)
        logger.info("Project %s removed by token %s", path.name, g.token.token_id)
        auth.record(store, Action.PROJECT_REMOVE, target=path.name)
        return jsonify(name=path.name, path=str(root))


def _check_body() -> Response | None:
    # The body is read whole (it is at most max_request_bytes), chunked or not, so
    # the view's validation reads the same strict JSON from Flask's cache.
    if request.method not in ("POST", "PUT", "PATCH") or not request.get_data():
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
        else "header"
        if title.endswith("Headers")
        else "body"
    )
    fields = [
        {
            "field": ".".join(str(p) for p in e["loc"]),
            "location": location,
            # Pydantic names the model when the whole body is not an object.
            "message": "must be a JSON object"
            if not e["loc"] and e["type"] in ("model_type", "dict_type")
            else e["msg"],
        }
        for e in exc.errors(include_url=False)
    ]
    listed = "; ".join(
        f"{f['field'] or location}: {f['message'].rstrip('.')}" for f in fields
    )
    return problem(
        422, f"The request is invalid: {listed}.", kind="validation", errors=fields
    )


def _http_problem(exc: HTTPException) -> Response:
    if exc.response is not None:  # abort() with a finished answer
        return exc.response  # type: ignore[return-value]

    status = exc.code or 500
    details = {
        404: f"No endpoint at {request.path!r}; see /docs for the API.",
        405: f"{request.method} is not allowed on {request.path!r}.",
        413: f"The body is larger than {current_app.config['MAX_CONTENT_LENGTH']} "
        "bytes, the most the daemon takes (max_request_bytes in the [daemon] "
        "section of config.toml).",
    }
    kinds = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}
    answer = problem(
        status, details.get(status, exc.description or exc.name), kind=kinds.get(status)
    )
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
