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
    Forbidden,
    PipelineError,
    RequestError,
    Unauthorized,
    shorten,
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

    :meth:`from_environment` finds the server and token as the ``uniflow`` command
    does. Every request raises :class:`~uniflow.errors.DaemonNotRunning` when
    nothing answers, :class:`~uniflow.errors.DaemonError` when the connection
    fails or times out, and :class:`~uniflow.errors.APIError` (with ``status``:
    401 no valid token, as :class:`~uniflow.errors.Unauthorized`; 403 the token's
    role does not allow it, as :class:`~uniflow.errors.Forbidden`; 404 not found,
    409 conflict, 422 a refused value, 429 too many requests, 503 the daemon is
    stopping) when the server refuses.

    Args:
        url: The server's address, such as ``http://127.0.0.1:8080``.
        token: The token's secret, sent as ``Authorization: Bearer``.
        timeout: Seconds to wait for each answer.

    Raises:
        ConfigError: ``url`` is not an http or https address with a host.
        AuthenticationError: ``token`` has characters no token has.
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

    @classmethod
    def from_environment(
        cls, url: str | None = None, *, timeout: float = 30.0
    ) -> Client:
        """Return a client for the server and token the ``uniflow`` command would use.

        The server is ``url`` when given, else ``$UNIFLOW_URL``, else the local
        daemon at the address it recorded when it started; it is not started when
        it does not run. The token is ``$UNIFLOW_TOKEN``, else the one kept for the
        server's URL by ``uniflow login`` (or by the CLI for the local daemon) in
        the OS keyring or the fallback file.

        Args:
            url: The server's address, such as ``http://127.0.0.1:8080``.
            timeout: Seconds to wait for each answer.

        Returns:
            A client to use in a ``with`` block, or to close when done.

        Raises:
            DaemonNotRunning: No server is named and the local daemon does not
                run, or the named address is the local daemon's and it does not run.
            AuthenticationError: No token is set or kept for the server.
            CredentialError: The OS keyring failed or did not answer in time.
            ConfigError: The address is not an http or https URL.
        """
        from uniflow import servers

        found = servers.configured_url(url)
        local = found is None
        if found is None:
            found = servers.local_url()
        if found is None:
            raise DaemonNotRunning(servers.default_local_url())

        credential = servers.token(found, local=local)
        return cls(found, credential.secret, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's connections."""
        self._http.close()

    def health(self) -> dict[str, Any]:
        """Ask the server whether it is up; needs no token.

        Returns:
            ``status``, ``service`` (``uniflow``) and the server's ``version``.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server answered with an error status.
        """
        return self._request("GET", "/healthz")  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        """Return the daemon's load.

        Returns:
            Whether it takes new runs, its running and queued runs, and how many
            runs execute at once.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused (401, 403).
        """
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

        Returns:
            The run, with its ``run_id`` and ``status``.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403 (a viewer token, or another
                project's), 404 (no such pipeline or project), 422 (parameters
                that do not match the pipeline), 429, 503 (the daemon is stopping).
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
        """Return one run.

        Returns:
            The run with its parameters, status, times and steps.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 404 (no run of that id).
        """
        return self._request("GET", f"{API}/runs/{_segment(run_id, RUN)}")  # type: ignore[no-any-return]

    def list_runs(
        self,
        *,
        pipeline_name: str | None = None,
        status: str | None = None,
        limit: int | None = 50,
    ) -> list[dict[str, Any]]:
        """Return runs, newest first, following the server's pages.

        Args:
            pipeline_name: Only this pipeline's runs.
            status: Only runs in this state: ``queued``, ``running``, ``success``,
                ``failed`` or ``cancelled``.
            limit: At most this many; all of them when None.

        Returns:
            The runs, without their steps.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 422 (an unknown status).
        """
        params = {"pipeline_name": pipeline_name, "status": status}
        return self._collect(f"{API}/runs", params, limit=limit)

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        """Cancel a queued or running run; return it as the server now has it.

        A running run is still ``running`` in the answer: it ends ``cancelled``
        once its processes have stopped (see :meth:`wait_for_run`).

        Returns:
            The run.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 404, 409 (the run has ended).
        """
        path = f"{API}/runs/{_segment(run_id, RUN)}/cancel"
        return self._request("POST", path)  # type: ignore[no-any-return]

    def prune_runs(self, older_than: str) -> dict[str, Any]:
        """Delete the runs that ended longer ago than ``older_than``, such as ``30d``.

        Queued and running runs are never deleted; needs an admin token.

        Returns:
            ``deleted``, how many runs were deleted, and ``finished_before``, the
            moment before which they had ended.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 422 (a bad duration).
        """
        body = {"older_than": older_than}
        return self._request("POST", f"{API}/runs/prune", json=body)  # type: ignore[no-any-return]

    def run_logs(self, run_id: str, *, offset: int = 0) -> tuple[bytes, int, str]:
        """Return a run's output from byte ``offset`` on (up to 1 MiB at a time).

        Returns:
            The bytes, the offset to ask from next, and the run's state.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 404.
        """
        path = f"{API}/runs/{_segment(run_id, RUN)}/logs"
        with self._connection_errors("GET", path):
            response = self._http.get(path, params={"offset": offset})
        if response.is_error:
            raise _api_error(response)
        next_offset = int(response.headers.get("X-Next-Offset", offset))
        return response.content, next_offset, response.headers.get("X-Run-Status", "")

    def follow_logs(self, run_id: str, *, offset: int = 0) -> Iterator[bytes]:
        """Yield a run's output as it is written, from ``offset``, until the run ends.

        Returns:
            An iterator of chunks of bytes, as the run wrote them.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 404.
        """
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

        path = f"{API}/runs/{_segment(run_id, RUN)}/logs"
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
        """Poll a run until it has ended.

        Args:
            run_id: The run's id.
            timeout: The most seconds to wait; no limit when None.
            interval: Seconds between two polls.

        Returns:
            The run, ``success``, ``failed`` or ``cancelled``, with its steps.

        Raises:
            TimeoutError: The run has not finished after ``timeout`` seconds.
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 404.
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

        Returns:
            The pipelines, each with its project, description and parameters.

        Raises:
            PipelineError: ``project`` is given and its code cannot be loaded.
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 404 (no such project).
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
        """Register a project folder on the server under ``name``; needs admin.

        Returns:
            The project, with its name and path.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 409 (the name is taken),
                422 (no project in that folder).
        """
        body = {"name": name, "path": path}
        return self._request("POST", f"{API}/projects", json=body)  # type: ignore[no-any-return]

    def remove_project(self, name: str) -> dict[str, Any]:
        """Forget a registered project; its runs stay. Needs admin.

        Returns:
            The project that was removed.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 404.
        """
        path = f"{API}/projects/{_segment(name, PROJECT)}"
        return self._request("DELETE", path)  # type: ignore[no-any-return]

    def list_projects(self) -> list[dict[str, Any]]:
        """Return the registered projects.

        Returns:
            The projects, each with its name and path.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403.
        """
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

        Returns:
            The token, with its ``token_id`` and its ``secret``.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403 (needs admin), 409 (the name
                is taken), 422 (a bad role, project or expiry).
        """
        if project is not None:
            _refuse_secret(project, "project name", "")
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

        Returns:
            The new token, with its ``token_id`` and its ``secret``.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403 (needs admin), 404, 409 (the
                token is revoked or was rotated already), 422 (a bad grace).
        """
        path = f"{API}/tokens/{_segment(token_id, TOKEN)}/rotate"
        body = {"grace": grace} if grace else {}
        return self._request("POST", path, json=body)  # type: ignore[no-any-return]

    def own_token(self) -> dict[str, Any]:
        """Return the token this client authenticates with.

        Returns:
            The token's id, name, role, project and expiry, without its secret.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401.
        """
        return self._request("GET", f"{API}/token")  # type: ignore[no-any-return]

    def audit(
        self, *, action: str | None = None, limit: int | None = 50
    ) -> list[dict[str, Any]]:
        """Return the newest audit events, newest first; needs admin.

        Args:
            action: Only events of this action, such as ``token.create``.
            limit: At most this many; all of them when None.

        Returns:
            The events, each with its time, action, actor and target.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403.
        """
        return self._collect(f"{API}/audit", {"action": action}, limit=limit)

    def list_tokens(self) -> list[dict[str, Any]]:
        """Return every token; needs admin.

        Returns:
            The tokens, with their role, project, expiry and state; no secret.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403.
        """
        return self._collect(f"{API}/tokens", {})

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        """Revoke a token at once; needs admin.

        Returns:
            The token, now revoked.

        Raises:
            DaemonNotRunning: Nothing answers at the server's address.
            DaemonError: The server did not answer in time, or the connection failed.
            APIError: The server refused: 401, 403, 404.
        """
        path = f"{API}/tokens/{_segment(token_id, TOKEN)}/revoke"
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

        Raises:
            RequestError: ``limit`` is below 1.
        """
        if limit is not None and limit < 1:
            raise RequestError(
                f"limit must be 1 or more, or None for every item; got {limit!r}."
            )
        params = {k: v for k, v in filters.items() if v is not None}
        for name, value in params.items():
            _refuse_secret(str(value), name.replace("_", " "), "")
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
        except httpx.InvalidURL:
            raise RequestError(
                f"The request {method} {shorten(path, 80)} is too long to send: a "
                "value given to it, such as a name or a filter, is too long."
            ) from None
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

    if not isinstance(url, str):
        raise ConfigError(
            "A server address is text, such as 'http://127.0.0.1:8080'; got "
            f"{type(url).__name__}."
        )
    url = url.strip().rstrip("/")
    from urllib.parse import unquote

    from uniflow.tokens import looks_like_secret

    # Decoded too: %75f_… is sent as it is and read as uf_… by the server.
    if looks_like_secret(url) or looks_like_secret(unquote(url)):
        raise ConfigError(
            "A server address must not hold a token's secret: it would travel in "
            "every request's URL. Give the address as 'http://HOST:PORT', and the "
            "token with `uniflow login` or UNIFLOW_TOKEN."
        )
    try:
        parts = urlsplit(url)
        valid = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and not (parts.username or parts.password or parts.query or parts.fragment)
        )
        parts.port  # noqa: B018 - raises ValueError on a bad port
        # A host name no resolver takes, such as one with an undecodable byte.
        (parts.hostname or "").encode("idna")
    except (ValueError, UnicodeError):
        valid = False
    if not valid and "@" in url:
        # Not quoted: the user name and password would be in the message.
        raise ConfigError(
            "A server address must not hold a user name or password: they would "
            "travel in every request's URL. Give it as 'http://HOST:PORT', and the "
            "token with `uniflow login` or UNIFLOW_TOKEN."
        )
    if not valid:
        raise ConfigError(
            f"{url!r} is not a server address; give one such as "
            "'http://127.0.0.1:8080', without a user, password or query."
        )
    return url


# What each kind of id in a path looks like, for the message that refuses one.
RUN = ("run id", "run ids look like run_0123456789abcdef (`uniflow runs list`)")
PROJECT = ("project name", "`uniflow projects list` shows the names")
TOKEN = ("token id", "token ids look like tok_5d41402abc4b (`uniflow token list`)")
_LONGEST_SEGMENT = 256


def _segment(value: str, kind: tuple[str, str]) -> str:
    """Return ``value`` quoted as one segment of a path.

    Raises:
        RequestError: It cannot name anything: empty, ``.`` or ``..``, with a
            ``/`` (the server would read another path), or too long.
    """
    from urllib.parse import quote

    what, hint = kind
    # Run and token ids never start with uf_; a project name may, so only a whole
    # secret is refused there.
    _refuse_secret(value, what, f"; {hint}", whole=kind is PROJECT)
    if value in ("", ".", "..") or "/" in value or len(value) > _LONGEST_SEGMENT:
        raise RequestError(f"{shorten(repr(value), 80)} is not a {what}; {hint}.")
    return quote(value, safe="")


def _refuse_secret(value: str, what: str, hint: str, *, whole: bool = True) -> None:
    """Refuse a token's secret given where a name or id goes: it would travel in
    the URL, which servers and proxies log.

    Args:
        whole: Refuse only a whole secret (with a right checksum); otherwise also
            anything that looks like part of one.

    Raises:
        RequestError: ``value`` holds a secret.
    """
    from uniflow.tokens import holds_secret, looks_like_secret

    if (holds_secret if whole else looks_like_secret)(value):
        raise RequestError(
            f"The {what} given holds a token's secret, which is never sent as "
            f"one{hint}. Nothing was sent; if the secret was pasted anywhere public, "
            "rotate it."
        )


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
    kind = {401: Unauthorized, 403: Forbidden}.get(response.status_code, APIError)
    return kind(
        response.status_code,
        str(title),
        str(detail),
        url=str(response.request.url),
        body=body,
    )
