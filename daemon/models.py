"""Request and answer models of the REST API, shared by validation and the spec."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from uniflow.runs import RunStatus
from uniflow.tokens import Role


class TriggerRun(BaseModel):
    """The body of ``POST /api/v1/runs``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "pipeline_name": "training_pipeline",
                    "project": "default",
                    "parameters": {"learning_rate": 0.01, "epochs": 20},
                }
            ]
        },
    )

    pipeline_name: str = Field(min_length=1, max_length=200)
    project: str = Field(default="default", min_length=1, max_length=64)
    parameters: dict[str, Any] = Field(default_factory=dict)


class RunPath(BaseModel):
    """The path of one run."""

    run_id: str = Field(max_length=100)


class RunQuery(BaseModel):
    """The filters of ``GET /api/v1/runs``."""

    model_config = ConfigDict(extra="forbid")

    pipeline_name: str | None = Field(default=None, max_length=200)
    status: RunStatus | None = None
    limit: int = Field(default=50, ge=1, le=1000)


class PipelineQuery(BaseModel):
    """The filter of ``GET /api/v1/pipelines``."""

    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(default=None, max_length=64)


class RegisterProject(BaseModel):
    """The body of ``POST /api/v1/projects``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    path: str = Field(min_length=1, max_length=4096)


class ProjectPath(BaseModel):
    """The path of one project."""

    name: str = Field(max_length=64)


class CreateToken(BaseModel):
    """The body of ``POST /api/v1/tokens``."""

    model_config = ConfigDict(extra="forbid")

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


class RunOut(BaseModel):
    """A run as the API shows it."""

    run_id: str
    pipeline_name: str
    project: str
    status: RunStatus
    parameters: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    error: str | None
    result: Any
    steps: list[StepOut]


class RunList(BaseModel):
    """A page of runs, newest first."""

    runs: list[RunOut]


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


class TokenList(BaseModel):
    """Every token."""

    tokens: list[TokenOut]


class Problem(BaseModel):
    """An error answer (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
