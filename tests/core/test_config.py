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
        ("[server]\nport = 1\n", "the valid one: [daemon]"),
        ("daemon = 3\n", "must be a [daemon] table"),
        ("[daemon\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_fix(write, text, says):
    write(text)

    with pytest.raises(ConfigError) as refused:
        config.load()

    assert says in str(refused.value)
