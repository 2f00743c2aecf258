"""Request and answer models of the REST API, shared by validation and the spec."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from uniflow.runs import RunStatus
from uniflow.tokens import Role


class TriggerRun(BaseModel):
    """The body of ``POST /api/v1/runs``."""

    model_config = ConfigDict(
        extra="forbid",
        openapi_extra={
            "example": {
                "pipeline_name": "training_pipeline",
                "project": "default",
                "parameters": {"learning_rate": 0.01, "epochs": 20},
            }
        },
    )

    pipeline_name: str = Field(min_length=1, max_length=200)
    project: str = Field(default="default", min_length=1, max_length=64)
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="The pipeline's parameters by name; left-out ones take their "
        "defaults. At most 64 KiB as JSON, nested at most 32 deep, whole numbers "
        "within 64 bits.",
    )


class RunPath(BaseModel):
    """The path of one run."""

    run_id: str = Field(max_length=100)


class PageQuery(BaseModel):
    """The paging of every list: how many, and where the last page ended."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Return the model's JSON Schema, built once for the plain call.

        flask-openapi3 asks for a query model's schema on every request, only to
        read its field types, and pydantic builds it anew each time: about 1 ms,
        a third of what listing runs costs. The callers only read the answer.
        """
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        return _plain_schema(cls)

    limit: int = Field(
        default=50, ge=1, le=1000, description="How many items to return, 1 to 1000."
    )
    cursor: str | None = Field(
        default=None,
        max_length=500,
        description="The `next_cursor` of the previous page; left out for the first.",
    )


class RunQuery(PageQuery):
    """The filters and paging of ``GET /api/v1/runs``."""

    pipeline_name: str | None = Field(default=None, max_length=200)
    status: RunStatus | None = None


class PipelineQuery(PageQuery):
    """The filter and paging of ``GET /api/v1/pipelines``."""

    project: str | None = Field(default=None, max_length=64)


class RegisterProject(BaseModel):
    """The body of ``POST /api/v1/projects``."""

    model_config = ConfigDict(
        extra="forbid",
        openapi_extra={"example": {"name": "default", "path": "/home/me/my-project"}},
    )

    name: str = Field(min_length=1, max_length=64)
    path: str = Field(min_length=1, max_length=4096)


class ProjectPath(BaseModel):
    """The path of one project."""

    name: str = Field(max_length=64)


class CreateToken(BaseModel):
    """The body of ``POST /api/v1/tokens``."""

    model_config = ConfigDict(
        extra="forbid",
        openapi_extra={"example": {"name": "ci-cd-token", "role": "admin"}},
    )

    name: str = Field(min_length=1, max_length=100)
    role: Role


class TokenPath(BaseModel):
    """The path of one token."""

    token_id: str = Field(max_length=100)


class StepOut(BaseModel):
    """One step call of a run."""

    name: str
    state: str
    started_at: str | None
    finished_at: str | None
    duration: float | None
    error: str | None


class RunSummary(BaseModel):
    """A run as lists show it: without its steps and result."""

    run_id: str
    pipeline_name: str
    project: str
    status: RunStatus
    parameters: dict[str, Any] | None = Field(
        description="As resolved, defaults filled in; null only for a run whose "
        "stored parameters are not valid JSON."
    )
    created_at: str
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    error: str | None


class RunOut(RunSummary):
    """A run as the API shows it."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {
                "run_id": "run_0f3a9c2e7b1d4a65",
                "status": "running",
                "created_at": "2023-10-27T10:00:00Z",
                "pipeline_name": "training_pipeline",
                "project": "default",
                "parameters": {"learning_rate": 0.01, "epochs": 50},
                "started_at": "2023-10-27T10:00:01Z",
                "finished_at": None,
                "exit_code": None,
                "error": None,
                "result": None,
                "steps": [],
            }
        }
    )

    result: Any = Field(description="What the pipeline returned, once it succeeded.")
    steps: list[StepOut]


class Created(RunOut):
    """A run just triggered, still queued; ``Location`` gives its address."""

    model_config = ConfigDict(
        title="RunOut",
        openapi_extra={
            "headers": {
                "Location": {
                    "description": "The run's path, /api/v1/runs/{run_id}.",
                    "schema": {"type": "string"},
                }
            }
        },
    )


class Health(BaseModel):
    """The answer of ``GET /healthz``."""

    status: str
    service: str
    version: str


class Page(BaseModel):
    """The envelope of every list: a page of items and where the next starts."""

    limit: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class RunList(Page):
    """A page of runs, newest first."""

    items: list[RunSummary]


class PipelineOut(BaseModel):
    """A pipeline with its parameters as JSON Schema."""

    name: str
    project: str
    description: str | None = None
    parameters: dict[str, Any]


class ProjectProblem(BaseModel):
    """A project whose pipelines could not be read."""

    project: str
    detail: str


class PipelineList(Page):
    """A page of pipelines, by project and name, and the projects that failed."""

    items: list[PipelineOut]
    problems: list[ProjectProblem]


class ProjectOut(BaseModel):
    """A registered project."""

    name: str
    path: str


class ProjectList(Page):
    """A page of projects, by name."""

    items: list[ProjectOut]


class TokenOut(BaseModel):
    """A token without its secret."""

    token_id: str
    name: str
    role: Role
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    state: str


class NewToken(TokenOut):
    """A token just created, with its secret, shown this once."""

    secret: str


class TokenList(Page):
    """A page of tokens, oldest first, active and revoked."""

    items: list[TokenOut]


class Problem(BaseModel):
    """An error answer (RFC 9457), as ``application/problem+json``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URN naming the kind of problem.")
    title: str
    status: int
    detail: str = Field(description="What went wrong and what to change.")
    request_id: str | None = Field(
        default=None, description="On a 500: the id of the daemon's log line."
    )


class FieldProblem(BaseModel):
    """One invalid field of a request."""

    field: str = Field(description="Dotted path of the field; empty for the whole.")
    location: str = Field(description="body, query, path or body.parameters.")
    message: str


class ValidationProblem(Problem):
    """A 422 answer, listing each invalid field."""

    errors: list[FieldProblem] = Field(description="At most 20 of them.")
    more_errors: int | None = Field(
        default=None, description="How many invalid fields were left out."
    )


@cache
def _plain_schema(model: type[PageQuery]) -> dict[str, Any]:
    return super(PageQuery, model).model_json_schema()


def error_answers(*statuses: int) -> dict[Any, Any]:
    """Return an operation's documented error answers, each a problem."""
    return {
        str(status): ValidationProblem if status == 422 else Problem
        for status in statuses
    }
