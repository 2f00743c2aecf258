"""The HTTP client of a UniFlow server, used by the CLI, the TUI and scripts."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from uniflow.errors import (
    APIError,
    AuthenticationError,
    ConfigError,
    DaemonError,
    DaemonNotRunning,
    PipelineError,
)

if TYPE_CHECKING:
    import ssl

    import httpx

API = "/api/v1"
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")
FINISHED = frozenset({"success", "failed", "cancelled"})
PAGE_SIZE = 1000
"""The most items the server returns in one page."""


class Client:
    """Talks to one UniFlow server with one token.

    Args:
        url: The server's address, such as ``http://127.0.0.1:8080``.
        token: The token's secret, sent as ``Authorization: Bearer``.
        timeout: Seconds to wait for each answer.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0):
        import httpx

        self.url = check_url(url)
        if token and not _TOKEN_CHARS.fullmatch(token):
            # Never quote the token: the message may end up in a log.
            raise AuthenticationError(
                "The token has characters no UniFlow token has (white space or "
                "non-ASCII); check how it was copied."
            )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=timeout,
            verify=_tls_context(self.url),
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's connections."""
        self._http.close()

    def health(self) -> dict[str, Any]:
        """Return the server's health answer; needs no token."""
        return self._request("GET", "/healthz")  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        """Return the daemon's load: running and queued runs, and its limit."""
        return self._request("GET", "/api/v1/status")  # type: ignore[no-any-return]

    # Runs

    def trigger_run(
        self,
        pipeline_name: str,
        parameters: dict[str, Any] | None = None,
        *,
        project: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Start a run and return it as the server recorded it (``queued``).

        The request is sent again once if the connection fails or times out: its
        idempotency key makes the server answer a retry with the run the first
        attempt started, if it got that far, instead of starting another.

        Args:
            pipeline_name: The pipeline to run.
            parameters: The pipeline's parameters by name; left-out ones take
                their defaults.
            project: The pipeline's project; the server's default when None.
            idempotency_key: Sent as ``Idempotency-Key``: pass the same key when
                retrying a call yourself. A fresh one per call when None.
        """
        body: dict[str, Any] = {
            "pipeline_name": pipeline_name,
            "parameters": parameters or {},
        }
        if project is not None:
            body["project"] = project
        if idempotency_key is None:
            idempotency_key = str(uuid.uuid4())
        headers = {"Idempotency-Key": idempotency_key}
        return self._request(  # type: ignore[no-any-return]
            "POST", f"{API}/runs", json=body, headers=headers, retry=True
        )

    def get_run(self, run_id: str) -> dict[str, Any]:
        """Return one run with its steps."""
        return self._request("GET", f"{API}/runs/{_segment(run_id)}")  # type: ignore[no-any-return]

    def list_runs(
        self,
        *,
        pipeline_name: str | None = None,
        status: str | None = None,
        limit: int | None = 50,
    ) -> list[dict[str, Any]]:
        """Return the newest ``limit`` runs, newest first; all of them when None."""
        params = {"pipeline_name": pipeline_name, "status": status}
        return self._collect(f"{API}/runs", params, limit=limit)

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        """Cancel a queued or running run; return it as the server now has it.

        A running run is still ``running`` in the answer: it ends ``cancelled``
        once its processes have stopped (see :meth:`wait_for_run`).
        """
        path = f"{API}/runs/{_segment(run_id)}/cancel"
        return self._request("POST", path)  # type: ignore[no-any-return]

    def prune_runs(self, older_than: str) -> dict[str, Any]:
        """Delete the runs that ended longer ago than ``older_than``, such as ``30d``.

        Queued and running runs are never deleted; needs an admin token.

        Returns:
            ``deleted``, how many runs were deleted, and ``finished_before``, the
            moment before which they had ended.
        """
        body = {"older_than": older_than}
        return self._request("POST", f"{API}/runs/prune", json=body)  # type: ignore[no-any-return]

    def run_logs(self, run_id: str, *, offset: int = 0) -> tuple[bytes, int, str]:
        """Return a run's output from byte ``offset`` on (up to 1 MiB at a time).

        Returns:
            The bytes, the offset to ask from next, and the run's state.
        """
        path = f"{API}/runs/{_segment(run_id)}/logs"
        with self._connection_errors("GET", path):
            response = self._http.get(path, params={"offset": offset})
        if response.is_error:
            raise _api_error(response)
        next_offset = int(response.headers.get("X-Next-Offset", offset))
        return response.content, next_offset, response.headers.get("X-Run-Status", "")

    def follow_logs(self, run_id: str, *, offset: int = 0) -> Iterator[bytes]:
        """Yield a run's output as it is written, from ``offset``, until it ends."""
        while True:
            for data in self._follow_once(run_id, offset):
                offset += len(data)
                yield data
            # The server ends a follow after a quiet spell; ask whether the run
            # has ended, and follow on from here if not.
            data, offset, status = self.run_logs(run_id, offset=offset)
            if data:
                yield data
            elif status in FINISHED:
                return

    def _follow_once(self, run_id: str, offset: int) -> Iterator[bytes]:
        import httpx

        path = f"{API}/runs/{_segment(run_id)}/logs"
        params: dict[str, str | int] = {"offset": offset, "follow": "true"}
        # No read timeout: the server ends a quiet follow itself.
        timeout = httpx.Timeout(30.0, read=None)
        with (
            self._connection_errors("GET", path),
            self._http.stream("GET", path, params=params, timeout=timeout) as answer,
        ):
            if answer.is_error:
                answer.read()
                raise _api_error(answer)
            yield from answer.iter_bytes()

    def wait_for_run(
        self, run_id: str, *, timeout: float | None = None, interval: float = 0.5
    ) -> dict[str, Any]:
        """Poll a run until it finishes and return it.

        Raises:
            TimeoutError: The run has not finished after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run["status"] in FINISHED:
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Run {run_id} has not finished after {timeout} s.")
            time.sleep(interval)

    # Pipelines and projects

    def list_pipelines(
        self,
        *,
        project: str | None = None,
        problems: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Return the pipelines of a project (or of every project).

        Args:
            project: Only this project's pipelines; every project's when None.
            problems: When given, the projects whose code cannot be read (each a
                ``project`` and its ``detail``) are added to it; they are left
                out of the answer either way.

        Raises:
            PipelineError: ``project`` is given and its code cannot be loaded.
        """
        found_problems: list[dict[str, Any]] = []
        found = self._collect(
            f"{API}/pipelines", {"project": project or None}, problems=found_problems
        )
        broken = [p["detail"] for p in found_problems if p["project"] == project]
        if broken:
            raise PipelineError(broken[0])
        if problems is not None:
            problems.extend(found_problems)
        return found

    def register_project(self, name: str, path: str) -> dict[str, Any]:
        """Register a project folder on the server under ``name``."""
        body = {"name": name, "path": path}
        return self._request("POST", f"{API}/projects", json=body)  # type: ignore[no-any-return]

    def remove_project(self, name: str) -> dict[str, Any]:
        """Forget a registered project; its runs stay."""
        path = f"{API}/projects/{_segment(name)}"
        return self._request("DELETE", path)  # type: ignore[no-any-return]

    def list_projects(self) -> list[dict[str, Any]]:
        """Return the registered projects."""
        return self._collect(f"{API}/projects", {})

    # Tokens

    def create_token(
        self,
        name: str,
        role: str,
        *,
        project: str | None = None,
        expires_in: str | None = None,
        expires_at: str | None = None,
        no_expiry: bool = False,
    ) -> dict[str, Any]:
        """Create a token; the answer holds its secret, shown this once.

        Args:
            name: A name unique among active tokens.
            role: ``viewer``, ``operator`` or ``admin``.
            project: Limit the token to this project.
            expires_in: Its lifetime, such as ``30d``; the server's default
                (90 days) when no expiry is given.
            expires_at: When it stops working, as a date or date and time.
            no_expiry: A token that never expires, where the server allows it.
        """
        body: dict[str, Any] = {"name": name, "role": role}
        options = {
            "project": project,
            "expires_in": expires_in,
            "expires_at": expires_at,
        }
        body.update({k: v for k, v in options.items() if v is not None})
        if no_expiry:
            body["no_expiry"] = True
        return self._request("POST", f"{API}/tokens", json=body)  # type: ignore[no-any-return]

    def rotate_token(
        self, token_id: str, *, grace: str | None = None
    ) -> dict[str, Any]:
        """Replace a token with a new one; the answer holds the new secret.

        Args:
            token_id: The token to replace.
            grace: How long the old one keeps working, such as ``1h``; without
                it, the old one is revoked at once.
        """
        path = f"{API}/tokens/{_segment(token_id)}/rotate"
        body = {"grace": grace} if grace else {}
        return self._request("POST", path, json=body)  # type: ignore[no-any-return]

    def own_token(self) -> dict[str, Any]:
        """Return the token this client authenticates with, without its secret."""
        return self._request("GET", f"{API}/token")  # type: ignore[no-any-return]

    def audit(
        self, *, action: str | None = None, limit: int | None = 50
    ) -> list[dict[str, Any]]:
        """Return the newest audit events, optionally of one action."""
        return self._collect(f"{API}/audit", {"action": action}, limit=limit)

    def list_tokens(self) -> list[dict[str, Any]]:
        """Return every token, without secrets."""
        return self._collect(f"{API}/tokens", {})

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        """Revoke a token at once."""
        path = f"{API}/tokens/{_segment(token_id)}/revoke"
        return self._request("POST", path)  # type: ignore[no-any-return]

    def _collect(
        self,
        path: str,
        filters: dict[str, Any],
        *,
        limit: int | None = None,
        problems: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Return the items of a list, following its pages up to ``limit``.

        The ``problems`` of each page, where a list has them, are added to
        ``problems``.
        """
        params = {k: v for k, v in filters.items() if v is not None}
        items: list[dict[str, Any]] = []
        while limit is None or len(items) < limit:
            wanted = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
            answer = self._request("GET", path, params={**params, "limit": wanted})
            if not isinstance(answer, dict) or not isinstance(
                answer.get("items"), list
            ):
                raise DaemonError(
                    f"{self.url} answered GET {path} with a list UniFlow does not "
                    "send; is it a UniFlow daemon?"
                )
            items.extend(answer["items"])
            if problems is not None and not problems:
                problems.extend(answer.get("problems", []))
            if not answer.get("next_cursor"):
                break
            params["cursor"] = answer["next_cursor"]
        return items

    def _request(
        self, method: str, path: str, *, retry: bool = False, **kwargs: Any
    ) -> Any:
        """Send a request and return its JSON answer.

        Args:
            retry: Send it again once if the connection fails or times out; only
                for requests that are safe to repeat.
        """
        import httpx

        with self._connection_errors(method, path):
            try:
                response = self._http.request(method, path, **kwargs)
            except (
                httpx.TimeoutException,
                httpx.NetworkError,
                httpx.RemoteProtocolError,
            ):
                # httpx's own retries (HTTPTransport(retries=...)) cover only
                # failed connects, not a request whose answer was lost.
                if not retry:
                    raise
                response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise _api_error(response)
        try:
            return response.json()
        except ValueError:
            raise DaemonError(
                f"{self.url} answered {method} {path} with something other than "
                "JSON; is it a UniFlow daemon?"
            ) from None

    @contextlib.contextmanager
    def _connection_errors(self, method: str, path: str) -> Iterator[None]:
        """Turn httpx's errors into UniFlow's, naming the exception's type only:
        httpx's messages can quote the request's headers, and with them the token.
        """
        import httpx

        try:
            yield
        except httpx.ConnectError:
            raise DaemonNotRunning(self.url) from None
        except httpx.TimeoutException:
            raise DaemonError(
                f"{self.url} did not answer {method} {path} in time; "
                "check that the daemon is healthy with `uniflow daemon status`."
            ) from None
        except httpx.HTTPError as exc:
            raise DaemonError(
                f"The connection to {self.url} failed during {method} {path} "
                f"({type(exc).__name__}); check that a UniFlow daemon answers there "
                "with `uniflow daemon status`."
            ) from None


def _tls_context(url: str) -> ssl.SSLContext | bool:
    """Return how to verify the server's certificate.

    Loading the system's trusted certificates takes longer than the rest of a
    command, so a plain ``http://`` server gets a context that trusts nothing: it
    never uses it, and were it ever sent to ``https://`` it would refuse to go on.
    """
    if url.startswith("https://"):
        return True
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def check_url(url: str) -> str:
    """Return a server address without its trailing slash.

    Raises:
        ConfigError: ``url`` is not an http or https address with a host.
    """
    from urllib.parse import urlsplit

    url = url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        valid = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and not (parts.username or parts.password or parts.query or parts.fragment)
        )
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        valid = False
    if not valid:
        # Not quoted whole: a user name and password may be part of it.
        shown = url.split("@")[-1] if "@" in url else url
        raise ConfigError(
            f"{shown!r} is not a server address; give one such as "
            "'http://127.0.0.1:8080', without a user, password or query."
        )
    return url


def _segment(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _api_error(response: httpx.Response) -> APIError:
    body: dict[str, Any] = {}
    try:
        answer = response.json()
        if isinstance(answer, dict):
            body = answer
    except ValueError:
        pass
    detail = body.get("detail") or response.text[:200]
    title = body.get("title") or response.reason_phrase
    return APIError(
        response.status_code,
        str(title),
        str(detail),
        url=str(response.request.url),
        body=body,
    )
