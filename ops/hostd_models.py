"""The bodies of hostd's API (they make its OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, Field

ACTIONS = ("doctor", "deploy_and_verify", "port_audit", "tail_logs", "evidence_list")


class ExecRequest(BaseModel):
    action: str = Field(max_length=64, description="one of " + ", ".join(ACTIONS))
    ref: str | None = Field(default=None, max_length=64, description="deploy_and_verify")
    lines: int | None = Field(default=None, description="tail_logs: 1 to 1000")


class ExecAccepted(BaseModel):
    run_id: str
    action: str
    status: str
    started_at: str


class ErrorBody(BaseModel):
    error_class: str
    message: str
    action: str | None = None
    active_run_id: str | None = None
    started_at: str | None = None


class RunRecord(BaseModel):
    run_id: str
    action: str
    status: str = Field(description="running, passed, failed or error")
    started_at: str
    finished_at: str | None = None
    exit_code: int | None = None
    summary: str = ""
    evidence: str | None = None
    error_class: str | None = None
    output_tail: str | None = None
