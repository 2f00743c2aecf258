"""``uniflow config``: settings read, written and explained through the real CLI.

Every call runs with the test's own UNIFLOW_HOME, so config.toml is the one in
that folder and never the developer's own.
"""

from __future__ import annotations

import json
import socket

import pytest


@pytest.fixture
def config_file(cli):
    return cli.home / "config.toml"


def test_set_get_unset_round_trip(cli, config_file):
    assert cli("config", "set", "daemon.port", "9000").code == 0
    assert cli("config", "set", "daemon.allowed_hosts", "A.example,b.example").code == 0
    set_lifetime = cli("config", "set", "tokens.max_lifetime", "365d")

    assert set_lifetime.code == 0, set_lifetime
    assert f'tokens.max_lifetime = "365d" in {config_file}' in set_lifetime.said
    assert cli("config", "get", "daemon.port").out == "9000\n"
    assert cli("config", "get", "daemon.allowed_hosts").out == "a.example,b.example\n"

    unset = cli("config", "unset", "daemon.port")

    assert unset.code == 0, unset
    assert f"Removed daemon.port from {config_file}" in unset.said
    assert cli("config", "get", "daemon.port").out == "8080\n"
    assert "365d" in config_file.read_text()
    assert config_file.stat().st_mode & 0o777 == 0o600


def test_unset_of_an_absent_key_succeeds(cli, config_file):
    done = cli("config", "unset", "daemon.port")

    assert done.code == 0, done
    assert "daemon.port is not set" in done.said
    assert not config_file.exists()


def test_list_shows_every_origin(cli, config_file):
    cli("config", "set", "daemon.trigger_limit", "5")

    done = cli("config", "list", "--show-origin", UNIFLOW_DAEMON_PORT="9100")

    assert done.code == 0, done
    rows = {line.split()[0]: line.split()[1:] for line in done.out.splitlines()[1:]}
    assert rows["daemon.port"] == ["9100", "env:UNIFLOW_DAEMON_PORT"]
    assert rows["daemon.trigger_limit"] == ["5", f"file:{config_file}"]
    assert rows["daemon.host"] == ["127.0.0.1", "default"]


def test_list_without_origin_has_two_columns(cli):
    done = cli("config", "list")

    assert done.code == 0, done
    assert done.out.split()[:2] == ["KEY", "VALUE"]
    assert "ORIGIN" not in done.out


def test_list_as_json_gives_records(cli, config_file):
    cli("config", "set", "daemon.allow_remote", "true")

    done = cli("config", "list", "--output", "json", UNIFLOW_DAEMON_PORT="9100")

    records = {r["key"]: r for r in json.loads(done.out)}
    assert records["daemon.allow_remote"] == {
        "key": "daemon.allow_remote",
        "value": True,
        "origin": f"file:{config_file}",
    }
    assert records["daemon.port"]["origin"] == "env:UNIFLOW_DAEMON_PORT"
    assert records["daemon.allowed_hosts"]["value"] == []
    assert set(records["tokens.max_lifetime"]) == {"key", "value", "origin"}


def test_get_as_json_gives_one_record(cli):
    done = cli("config", "get", "tokens.default_lifetime", "-o", "json")

    assert json.loads(done.out) == {
        "key": "tokens.default_lifetime",
        "value": "90d",
        "origin": "default",
    }


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("set", "daemon.prot", "1"), "Unknown setting 'daemon.prot'; the valid ones:"),
        (("get", "daemon.prot"), "daemon.host, daemon.port, daemon.max_request_bytes"),
        (("unset", "port"), "Did you mean daemon.port?"),
        (("set", "daemon.port", "eighty"), "daemon.port must be a whole number"),
        (("set", "daemon.allow_remote", "yes"), "must be true or false; got 'yes'"),
        (("set", "tokens.max_lifetime", "1 year"), "a duration such as '45s'"),
        (("set", "tokens.default_lifetime", "2y"), "a duration such as '45s'"),
        (("set", "tokens.default_lifetime", "400d"), "longer than tokens.max_life"),
        (("set", "daemon.host", "not a host!"), "an IP address or a host name"),
        (("set", "daemon.host", "999.1.1.1"), "an IP address or a host name"),
        (("set", "daemon.allowed_hosts", "a_b.example"), "host names or IP addr"),
        (("set", "daemon.allowed_hosts", "uf_" + "x" * 36), "a secret, not shown"),
    ],
)
def test_refusals_leave_the_file_unchanged(cli, config_file, args, says):
    config_file.write_text('[tokens]\nmax_lifetime = "365d" # a year\n', "utf-8")
    before = config_file.read_bytes()

    done = cli("config", *args)

    assert done.code == 2, done
    assert says in done.said
    assert "Traceback" not in done.err
    assert config_file.read_bytes() == before


def test_invalid_file_is_reported_and_kept(cli, config_file):
    config_file.write_text("[daemon]\nport = 70000\ntrigger_limit = 5\n", "utf-8")

    listed = cli("config", "list")
    fixed = cli("config", "set", "daemon.port", "9000")

    assert listed.code == 2, listed
    assert f"daemon.port in {config_file} must be a whole number" in listed.said
    assert fixed.code == 0, fixed
    assert cli("config", "get", "daemon.trigger_limit").out == "5\n"


def test_set_warns_when_a_variable_overrides_it(cli):
    done = cli("config", "set", "daemon.port", "9000", UNIFLOW_DAEMON_PORT="9100")

    assert done.code == 0, done
    assert "UNIFLOW_DAEMON_PORT is set and takes precedence" in done.err


def test_set_of_a_remote_host_warns_until_allowed(cli):
    host = cli("config", "set", "daemon.host", "0.0.0.0")
    allowed = cli("config", "set", "daemon.allow_remote", "true")

    assert host.code == 0, host
    assert "The daemon will not start" in host.err and "allow_remote" in host.err
    assert allowed.code == 0, allowed
    assert "will not start" not in allowed.err


def test_invalid_variable_names_it(cli):
    listed = cli("config", "list", UNIFLOW_DAEMON_PORT="eighty")
    started = cli("daemon", "start", UNIFLOW_TOKENS_MAX_LIFETIME="a year")

    assert listed.code == 2, listed
    assert "UNIFLOW_DAEMON_PORT must be a whole number" in listed.err
    assert started.code == 2, started
    assert "UNIFLOW_TOKENS_MAX_LIFETIME must be a duration" in started.err
    assert cli.state() is None


def test_port_variable_moves_the_daemon(cli):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli("config", "set", "daemon.port", "1")  # the variable must win over this

    started = cli("daemon", "start", UNIFLOW_DAEMON_PORT=str(port))

    assert started.code == 0, started
    state = cli.state()
    assert state is not None
    assert state["url"] == f"http://127.0.0.1:{port}"
    status = cli("daemon", "status")
    assert f"127.0.0.1:{port}" in status.said, status
    changed = cli("config", "set", "daemon.trigger_limit", "5")
    assert "The running daemon keeps its settings until it restarts" in changed.err
