"""The user's config.toml: known keys, checked values, defaults otherwise."""

from __future__ import annotations

import os

import pytest

from uniflow import config
from uniflow.errors import ConfigError


@pytest.fixture
def write(clean_environ):
    def write(text):
        (clean_environ / "config.toml").write_text(text, encoding="utf-8")

    return write


def test_no_file_gives_the_defaults(clean_environ):
    settings = config.load()

    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.max_request_bytes == 1024 * 1024
    assert settings.trigger_limit == 120


def test_every_key_is_read(write):
    write(
        '[daemon]\nhost = "::1"\nport = 0\nmax_request_bytes = 2048\n'
        "trigger_limit = 0\n"
    )

    assert config.load() == config.Settings("::1", 0, 2048, 0)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[daemon]\nport = 70000\n", "daemon.port"),
        ("[daemon]\nport = true\n", "daemon.port"),
        ("[daemon]\nmax_request_bytes = 10\n", "1024 to 1 GiB"),
        ('[daemon]\nmax_request_bytes = "1MB"\n', "max_request_bytes"),
        ("[daemon]\ntrigger_limit = -1\n", "0 (no limit)"),
        ("[daemon]\ntrigger_limit = 1.5\n", "trigger_limit"),
        ('[daemon]\nhost = ""\n', "daemon.host"),
        ("[daemon]\nthreads = 4\n", "valid keys: host, port, max_request_bytes"),
        ("[server]\nport = 1\n", "the valid ones: [daemon], [tokens]"),
        ("[daemon]\nallow_remote = 1\n", "daemon.allow_remote"),
        ('[daemon]\nallowed_hosts = "x"\n', "list of host names"),
        ('[daemon]\nallowed_hosts = ["a b"]\n', "list of host names"),
        ('[daemon]\nallowed_hosts = ["*"]\n', "not patterns"),
        ('[daemon]\nallowed_hosts = ["*.example.com"]\n', "not patterns"),
        ("[daemon]\nauth_failure_limit = -2\n", "0 (no limit)"),
        ('[tokens]\ndefault_lifetime = "90 days"\n', "tokens.default_lifetime"),
        ('[tokens]\nmax_lifetime = "0d"\n', "tokens.max_lifetime"),
        ("[tokens]\nmax_lifetime = 30\n", "such as '45s'"),
        (
            '[tokens]\ndefault_lifetime = "60d"\nmax_lifetime = "30d"\n',
            "default_lifetime (60d)",
        ),
        ('[tokens]\nlifetime = "30d"\n', "valid keys: default_lifetime, max_lifetime"),
        ("daemon = 3\n", "must be a [daemon] table"),
        ("[daemon\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_fix(write, text, says):
    write(text)

    with pytest.raises(ConfigError) as refused:
        config.load()

    assert says in str(refused.value)


def test_a_short_cap_becomes_the_default_lifetime(write):
    write('[tokens]\nmax_lifetime = "7d"\n')

    policy = config.load().token_policy()

    assert policy.default_lifetime.days == policy.max_lifetime.days == 7


def test_token_and_host_settings_are_read(write):
    write(
        '[daemon]\nallow_remote = true\nallowed_hosts = ["UniFlow.Internal"]\n'
        'auth_failure_limit = 5\n[tokens]\ndefault_lifetime = "30d"\n'
        'max_lifetime = "30d1h30m"\n'
    )

    settings = config.load()

    assert settings.allow_remote is True
    assert settings.allowed_hosts == ("uniflow.internal",)
    assert settings.auth_failure_limit == 5
    policy = settings.token_policy()
    assert policy.default_lifetime.days == 30
    assert policy.max_lifetime is not None
    assert policy.max_lifetime.total_seconds() == 30 * 86400 + 5400


def test_no_max_lifetime_by_default(clean_environ):
    assert config.load().token_policy().max_lifetime is None


# The environment layer: UNIFLOW_<SECTION>_<KEY>


def test_environment_overrides_the_file(write, monkeypatch):
    write('[daemon]\nport = 9000\nhost = "::1"\n')
    monkeypatch.setenv("UNIFLOW_DAEMON_PORT", " 9100 ")
    monkeypatch.setenv("UNIFLOW_TOKENS_MAX_LIFETIME", "30d")

    settings = config.load()

    assert (settings.host, settings.port) == ("::1", 9100)
    assert settings.max_lifetime == settings.default_lifetime == "30d"


@pytest.mark.parametrize(
    ("variable", "text", "attribute", "value"),
    [
        ("UNIFLOW_DAEMON_ALLOW_REMOTE", "TRUE", "allow_remote", True),
        ("UNIFLOW_DAEMON_ALLOWED_HOSTS", "A.example, b.example", "allowed_hosts",
         ("a.example", "b.example")),
        ("UNIFLOW_DAEMON_ALLOWED_HOSTS", '["c.example"]', "allowed_hosts",
         ("c.example",)),
        ("UNIFLOW_DAEMON_ALLOWED_HOSTS", "", "allowed_hosts", ()),
        ("UNIFLOW_TOKENS_MAX_LIFETIME", "", "max_lifetime", ""),
        ("UNIFLOW_DAEMON_TRIGGER_LIMIT", "0", "trigger_limit", 0),
    ],
)  # fmt: skip
def test_environment_values_take_their_type(
    monkeypatch, variable, text, attribute, value
):
    monkeypatch.setenv(variable, text)

    assert getattr(config.load(), attribute) == value


@pytest.mark.parametrize(
    ("variable", "text", "says"),
    [
        ("UNIFLOW_DAEMON_PORT", "eighty", "UNIFLOW_DAEMON_PORT must be a whole number"),
        ("UNIFLOW_DAEMON_PORT", "1.5", "got '1.5'"),
        ("UNIFLOW_DAEMON_ALLOW_REMOTE", "yes", "must be true or false; got 'yes'"),
        ("UNIFLOW_DAEMON_ALLOWED_HOSTS", "a b", "list of host names"),
        ("UNIFLOW_TOKENS_DEFAULT_LIFETIME", "90 days", "UNIFLOW_TOKENS_DEFAULT_LI"),
        ("UNIFLOW_DAEMON_PROT", "1", "UNIFLOW_DAEMON_PROT; the valid ones: UNIFLOW_"),
    ],
)
def test_bad_environment_names_the_variable(monkeypatch, variable, text, says):
    monkeypatch.setenv(variable, text)

    with pytest.raises(ConfigError) as refused:
        config.load()

    assert says in str(refused.value)
    assert refused.value.path is None


def test_lifetime_clash_names_both_origins(write, monkeypatch):
    write('[tokens]\nmax_lifetime = "30d"\n')
    monkeypatch.setenv("UNIFLOW_TOKENS_DEFAULT_LIFETIME", "60d")

    with pytest.raises(ConfigError) as refused:
        config.load()

    assert "(60d) from UNIFLOW_TOKENS_DEFAULT_LIFETIME" in str(refused.value)
    assert "(30d) in " in str(refused.value)


def test_entries_say_where_each_value_comes_from(clean_environ, write, monkeypatch):
    write("[daemon]\nport = 9000\ntrigger_limit = 5\n")
    monkeypatch.setenv("UNIFLOW_DAEMON_PORT", "9100")

    found = {entry.key: entry for entry in config.entries()}

    assert list(found) == list(config.KEYS)
    assert found["daemon.port"] == config.Entry(
        "daemon.port", 9100, "env:UNIFLOW_DAEMON_PORT"
    )
    assert found["daemon.trigger_limit"].origin == f"file:{clean_environ}/config.toml"
    assert found["daemon.host"] == config.Entry("daemon.host", "127.0.0.1", "default")
    assert found["daemon.allowed_hosts"].value == []


# Changing the file: set_value and unset


def test_set_keeps_the_other_keys(clean_environ, write):
    write('# mine\n[daemon]\nhost = "::1"\n\n[tokens]\nmax_lifetime = "400d"\n')

    change = config.set_value("daemon.port", "9000")

    assert (change.changed, change.value, change.problem) == (True, 9000, None)
    assert change.path == clean_environ / "config.toml"
    assert config.load() == config.Settings(host="::1", port=9000, max_lifetime="400d")
    assert (clean_environ / "config.toml").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("daemon.allow_remote", "true", True),
        ("daemon.allowed_hosts", "A.example,b.example", ["a.example", "b.example"]),
        ("daemon.allowed_hosts", '["c.example"]', ["c.example"]),
        ("daemon.allowed_hosts", "", []),
        ("tokens.default_lifetime", "2w", "2w"),
        ("tokens.max_lifetime", "", ""),
        ("daemon.host", " 0.0.0.0 ", "0.0.0.0"),
    ],
)
def test_set_reads_the_value_as_its_type(clean_environ, key, text, value):
    config.set_value(key, text)

    assert config.get(key) == config.Entry(
        key, value, f"file:{clean_environ}/config.toml"
    )


@pytest.mark.parametrize(
    ("key", "text", "says"),
    [
        ("daemon.prot", "1", "Unknown setting 'daemon.prot'; the valid ones: daemon"),
        ("port", "1", "Did you mean daemon.port?"),
        ("daemon.port", "70000", "daemon.port must be a whole number from 0 to 65535"),
        ("daemon.port", "eighty", "got 'eighty'"),
        ("daemon.allow_remote", "1", "daemon.allow_remote must be true or false"),
        ("daemon.allowed_hosts", "[1, 2]", "list of host names"),
        ("daemon.allowed_hosts", "[oops", "list of host names"),
        ("tokens.max_lifetime", "30 days", "a duration such as '45s'"),
        ("tokens.default_lifetime", "400d", "longer than tokens.max_lifetime"),
    ],
)
def test_refused_set_leaves_the_file_alone(clean_environ, write, key, text, says):
    write('[tokens]\nmax_lifetime = "365d"  # a year\n')
    before = (clean_environ / "config.toml").read_bytes()

    with pytest.raises(ConfigError) as refused:
        config.set_value(key, text)

    assert says in str(refused.value)
    assert (clean_environ / "config.toml").read_bytes() == before
    assert [p.name for p in clean_environ.iterdir()] == ["config.toml"]


def test_set_refuses_a_file_that_is_not_toml(clean_environ, write):
    write("[daemon\nport = 1\n")

    with pytest.raises(ConfigError, match="not valid TOML"):
        config.set_value("daemon.port", "2")

    assert (clean_environ / "config.toml").read_text() == "[daemon\nport = 1\n"


def test_set_in_an_invalid_file_keeps_its_contents(write):
    write("[daemon]\nthreads = 4\nport = 70000\n")

    fixed = config.set_value("daemon.port", "9000")

    assert fixed.problem is not None
    assert "['threads']" in str(fixed.problem)
    with pytest.raises(ConfigError, match="threads"):
        config.load()
    assert config.unset("daemon.port").changed


def test_set_names_an_overriding_variable(monkeypatch):
    monkeypatch.setenv("UNIFLOW_DAEMON_PORT", "9100")

    change = config.set_value("daemon.port", "9000")

    assert change.overridden_by == "UNIFLOW_DAEMON_PORT"
    assert config.load().port == 9100


def test_set_writes_through_a_symlink(clean_environ, tmp_path):
    target = tmp_path / "dotfiles" / "uniflow.toml"
    target.parent.mkdir()
    target.write_text("[daemon]\nport = 1\n")
    (clean_environ / "config.toml").symlink_to(target)

    config.set_value("daemon.host", "::1")

    assert (clean_environ / "config.toml").is_symlink()
    assert config.load() == config.Settings(host="::1", port=1)


def test_unset_brings_back_the_default(clean_environ, write):
    write('[daemon]\nport = 9000\n\n[tokens]\ndefault_lifetime = "30d"\n')

    assert config.unset("daemon.port").changed
    assert config.get("daemon.port") == config.Entry("daemon.port", 8080, "default")
    assert "[daemon]" not in (clean_environ / "config.toml").read_text()
    assert config.load().default_lifetime == "30d"


def test_unset_of_an_absent_key_changes_nothing(clean_environ):
    change = config.unset("daemon.port")

    assert not change.changed
    assert not (clean_environ / "config.toml").exists()


def test_unset_refuses_an_unknown_key(clean_environ):
    with pytest.raises(ConfigError, match="the valid ones: daemon.host"):
        config.unset("daemon.threads")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda path: os.mkfifo(path), "not a regular file"),
        (lambda path: path.symlink_to("/dev/zero"), "not a regular file"),
        (lambda path: path.write_bytes(b"#" * (2 << 20)), "over 1 MiB"),
    ],
    ids=["fifo", "link-to-dev-zero", "over-1-mib"],
)
def test_config_that_is_no_small_file_is_refused_at_once(clean_environ, make, says):
    make(clean_environ / "config.toml")

    # At once: neither a FIFO without a writer nor an endless device may hang it.
    with pytest.raises(ConfigError, match=says):
        config.load()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_config_of_another_user_is_refused(write, clean_environ):
    # It decides where the daemon listens, and for whom.
    write('[daemon]\nhost = "0.0.0.0"\nallow_remote = true\n')
    os.chown(clean_environ / "config.toml", 65534, 65534)

    with pytest.raises(ConfigError, match="belongs to another user"):
        config.load()


def test_config_left_open_is_closed(write, clean_environ):
    write("[daemon]\nport = 9000\n")
    (clean_environ / "config.toml").chmod(0o666)

    assert config.load().port == 9000
    assert (clean_environ / "config.toml").stat().st_mode & 0o777 == 0o600
