"""The user's config.toml: known keys, checked values, defaults otherwise."""

from __future__ import annotations

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
