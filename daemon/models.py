"""Request and answer models of the REST API, shared by validation and the spec."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from uniflow import durations, tokens
from uniflow.audit import Action
from uniflow.errors import DurationError
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


_KEY_RULE = (
    "must be 1 to 255 visible ASCII characters (letters, digits and punctuation, "
    "no spaces), such as a UUID"
)
_KEY_CHARS = frozenset(chr(code) for code in range(0x21, 0x7F))


def _no_default(schema: dict[str, Any]) -> None:
    # A header is sent or left out; the spec need not show its absence as null.
    schema.pop("default", None)


class TriggerHeaders(BaseModel):
    """The headers of ``POST /api/v1/runs`` besides the token."""

    idempotency_key: Annotated[
        str | None,
        WithJsonSchema(
            {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": "^[!-~]+$",
                "description": "Makes retrying safe: a request with a key this token "
                "sent in the last 24 hours and the same body starts nothing and "
                "answers 200 with the run the first one started; with another body "
                "it is refused (422). 1 to 255 visible ASCII characters; a fresh "
                "UUID per trigger is a good key.",
                "example": "6f1c1f8e-5a4b-4c1e-9b1d-3f2a7c9e0d42",
            }
        ),
    ] = Field(default=None, alias="Idempotency-Key", json_schema_extra=_no_default)

    @field_validator("idempotency_key")
    @classmethod
    def _check_key(cls, value: str | None) -> str | None:
        # Checked here rather than with a pattern so that the message says what a
        # key may be, and never quotes the value, which may be huge.
        if value is not None and not (
            1 <= len(value) <= 255 and _KEY_CHARS.issuperset(value)
        ):
            raise PydanticCustomError("idempotency_key", _KEY_RULE)
        if value is not None and tokens.holds_secret(value):
            # The daemon keeps keys as they are sent, for a day.
            raise PydanticCustomError(
                "idempotency_key",
                "holds a token's secret (uf_ and a long random part); send a fresh "
                "UUID instead, and rotate that token if the secret is real",
            )
        return value


def _duration(value: str | None) -> str | None:
    # A duration field's check, with the core's message naming the fix.
    if value is None:
        return value
    try:
        durations.parse(value)
    except DurationError as exc:
        raise PydanticCustomError(
            "duration", "{reason}", {"reason": str(exc)}
        ) from None
    return value


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
    project: str | None = Field(default=None, max_length=64)


class PipelineQuery(PageQuery):
    """The filter and paging of ``GET /api/v1/pipelines``."""

    project: str | None = Field(default=None, max_length=64)


class PruneRuns(BaseModel):
    """The body of ``POST /api/v1/runs/prune``."""

    model_config = ConfigDict(
        extra="forbid", openapi_extra={"example": {"older_than": "30d"}}
    )

    older_than: str = Field(
        max_length=100,
        # Only in the spec: the check below says better what is wrong.
        json_schema_extra={
            "minLength": 2,
            "pattern": "^([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
        },
        description="Delete the runs that ended longer ago than this: whole numbers "
        "each with a unit, w, d, h, m or s, largest first, such as `45s`, `90m`, "
        "`12h`, `30d`, `2w` or `1h30m`; at most 100 years.",
    )

    _check_duration = field_validator("older_than")(_duration)


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
        openapi_extra={
            "example": {"name": "ci-cd-token", "role": "admin", "expires_in": "30d"}
        },
    )

    name: str = Field(min_length=1, max_length=100)
    role: Role
    project: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Limit the token to this registered project: its runs, "
        "pipelines and triggers only.",
    )
    expires_in: str | None = Field(
        default=None,
        max_length=100,
        description="The token's lifetime, such as `12h`, `30d` or `2w`. Without "
        "this, `expires_at` or `no_expiry`, it is 90 days (`default_lifetime`).",
    )
    expires_at: str | None = Field(
        default=None,
        max_length=40,
        description="When the token stops working: a date (`2027-01-31`, its start "
        "in UTC) or a date and time (`2027-01-31T12:00:00Z`).",
    )
    no_expiry: bool = Field(
        default=False,
        strict=True,  # true or false only: "yes" or 1 asking for a token forever
        description="A token that never expires; refused where config.toml sets "
        "`max_lifetime`.",
    )

    _check_expires_in = field_validator("expires_in")(_duration)


class RotateToken(BaseModel):
    """The body of ``POST /api/v1/tokens/{token_id}/rotate``."""

    model_config = ConfigDict(
        extra="forbid", openapi_extra={"example": {"grace": "1h"}}
    )

    grace: str | None = Field(
        default=None,
        max_length=100,
        description="How long the old token keeps working beside the new one, at "
        "most `7d`, so jobs holding it can switch; without it, the old one is "
        "revoked at once.",
    )

    _check_grace = field_validator("grace")(_duration)

    @model_validator(mode="before")
    @classmethod
    def _empty_body(cls, value: Any) -> Any:
        # No body at all asks for no grace, as an empty object does.
        return {} if value is None else value


class AuditQuery(PageQuery):
    """The filter and paging of ``GET /api/v1/audit``."""

    action: Action | None = None


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


_LOCATION = {
    "description": "The run's path, /api/v1/runs/{run_id}.",
    "schema": {"type": "string"},
}


class Created(RunOut):
    """A run just triggered, still queued; ``Location`` gives its address."""

    model_config = ConfigDict(
        title="RunOut", openapi_extra={"headers": {"Location": _LOCATION}}
    )


class Replayed(RunOut):
    """The run an earlier request with the same ``Idempotency-Key`` started."""

    model_config = ConfigDict(
        title="RunOut",
        openapi_extra={
            "headers": {
                "Location": _LOCATION,
                "Idempotent-Replayed": {
                    "description": "Always `true`: the run was not started again.",
                    "schema": {"type": "string"},
                },
            }
        },
    )


class Pruned(BaseModel):
    """The answer of ``POST /api/v1/runs/prune``."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {"deleted": 12, "finished_before": "2023-09-27T10:00:00.000Z"}
        }
    )

    deleted: int = Field(description="How many runs were deleted.")
    finished_before: str = Field(
        description="The runs that ended before this moment were deleted."
    )


class Health(BaseModel):
    """The answer of ``GET /healthz``."""

    status: str
    service: str
    version: str


class RunCounts(BaseModel):
    """How many runs are in each unfinished state."""

    running: int
    queued: int


class DaemonStatus(BaseModel):
    """The answer of ``GET /api/v1/status``."""

    version: str
    accepting_runs: bool = Field(
        description="False once the daemon has begun to stop: it lets running runs "
        "finish and refuses new ones."
    )
    max_concurrent_runs: int = Field(description="How many runs execute at once.")
    runs: RunCounts

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": "0.1.0",
                    "accepting_runs": True,
                    "max_concurrent_runs": 2,
                    "runs": {"running": 2, "queued": 5},
                }
            ]
        }
    )


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
    project: str | None = Field(description="The one project it reaches, or null.")
    created_at: str
    expires_at: str | None = Field(description="When it stops working; null: never.")
    last_used_at: str | None = Field(description="Recorded at most once a minute.")
    last_used_from: str | None = Field(description="The client address of that use.")
    revoked_at: str | None = Field(
        description="When it was revoked, or will be at the end of a rotation's grace."
    )
    replaced_by: str | None = Field(
        description="The token a rotation replaced it with."
    )
    state: Literal["active", "revoked", "expired"]


class NewToken(TokenOut):
    """A token just created, with its secret, shown this once."""

    secret: str


class RotatedToken(NewToken):
    """The token a rotation made, with its secret, shown this once."""

    old_revoked_at: str = Field(
        description="When the token it replaced stops working: now, or at the end "
        "of the grace period, which never outlasts that token's expiry."
    )


class TokenList(Page):
    """A page of tokens, oldest first, active and revoked."""

    items: list[TokenOut]


class EventOut(BaseModel):
    """One entry of the audit log."""

    action: Action
    at: str
    token_id: str | None = Field(description="The acting token, if one is known.")
    token_name: str | None
    client: str | None = Field(description="The client's address.")
    target: str | None = Field(description="A token id, project name or run id.")
    detail: str | None = Field(description="Such as why an authentication failed.")


class AuditList(Page):
    """A page of the audit log, newest first."""

    items: list[EventOut]


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
