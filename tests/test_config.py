"""Configuration: one loader, environment over secrets.toml over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatcore.config import (
    DEFAULT_BASE_URL,
    DEFAULT_DATABASE_URL,
    PROJECT_ROOT,
    VARIABLES,
    load_settings,
    read_secrets,
)
from chatcore.errors import ConfigError
from chatcore.server_secret import load_or_create, pseudonym, server_secret

ROOT = PROJECT_ROOT


def test_defaults_apply_when_nothing_is_set() -> None:
    settings = load_settings(env={}, secrets={})
    assert settings.api_key is None
    assert not settings.has_api_key
    assert settings.base_url == DEFAULT_BASE_URL == "https://www.anyapi.vip/v1"
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///data/anychat.db"
    assert settings.default_model == "gpt-4o"
    assert settings.request_timeout == 120.0
    assert settings.max_retries == 2
    assert settings.db_pool_size == 20


def test_environment_wins_over_secrets() -> None:
    settings = load_settings(
        env={"ANYAPI_BASE_URL": "http://env.example/v1/", "ANYAPI_MAX_RETRIES": "0"},
        secrets={"ANYAPI_BASE_URL": "http://secrets.example/v1", "ANYAPI_API_KEY": "sk-s"},
    )
    assert settings.base_url == "http://env.example/v1"  # trailing slash removed
    assert settings.api_key == "sk-s"
    assert settings.max_retries == 0


def test_openai_api_key_is_the_fallback() -> None:
    assert load_settings(env={"OPENAI_API_KEY": "sk-o"}, secrets={}).api_key == "sk-o"
    both = load_settings(env={"OPENAI_API_KEY": "sk-o", "ANYAPI_API_KEY": "sk-a"}, secrets={})
    assert both.api_key == "sk-a"


def test_secrets_values_may_be_toml_numbers(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text('ANYAPI_TIMEOUT = 30\nANYCHAT_DEFAULT_MODEL = "deepseek-chat"\n')
    settings = load_settings(env={}, secrets=read_secrets(path))
    assert settings.request_timeout == 30.0
    assert settings.default_model == "deepseek-chat"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ANYAPI_TIMEOUT", "soon"),
        ("ANYAPI_MAX_RETRIES", "-1"),
        ("ANYCHAT_MAX_MESSAGE_CHARS", "0"),
        ("ANYCHAT_DB_POOL_SIZE", "0"),
    ],
)
def test_unusable_numbers_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env={name: value}, secrets={})


def test_broken_secrets_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text("ANYAPI_API_KEY = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_secrets(path)


def test_the_key_never_appears_in_repr() -> None:
    settings = load_settings(env={"ANYAPI_API_KEY": "sk-very-secret"}, secrets={})
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings)


def _readme_configuration_table() -> dict[str, str]:
    """The README's configuration table: variable -> its default cell."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0] != "`variable`":
            rows[cells[0].strip("`")] = cells[1]
    return rows


def test_the_readme_table_and_the_settings_agree() -> None:
    """Every variable chatcore/config.py reads is in the README table with its default, and
    the table lists nothing the code does not read."""
    table = _readme_configuration_table()
    assert set(table) == set(VARIABLES)
    for name, (_key, default, _meaning) in VARIABLES.items():
        expected = "none" if default is None else f"`{default}`"
        assert table[name].startswith(expected), (name, table[name], expected)


def test_every_variable_is_in_the_secrets_example() -> None:
    example = (ROOT / ".streamlit" / "secrets.toml.example").read_text()
    for name in VARIABLES:
        assert name in example, name


def test_the_secret_key_is_not_in_the_settings_repr() -> None:
    settings = load_settings(env={"ANYCHAT_SECRET_KEY": "very-secret-value"}, secrets={})
    assert settings.secret_key == "very-secret-value"
    assert "very-secret-value" not in repr(settings)


def test_no_secret_reaches_the_settings_repr_or_str() -> None:
    """Settings end up in logs and error reports: every secret they hold stays out."""
    secrets = {
        "ANYAPI_API_KEY": "sk-api-key-value",
        "ANYCHAT_ADMIN_USER": "ops",
        "ANYCHAT_ADMIN_PASSWORD": "admin-password-value",
        "ANYCHAT_SECRET_KEY": "secret-key-value",
        "DATABASE_URL": "postgresql://anychat:db-password-value@db.example.test/anychat",
    }
    settings = load_settings(env=secrets, secrets={})
    assert settings.database_url == secrets["DATABASE_URL"]
    for shown in (repr(settings), str(settings)):
        assert "anychat:***@db.example.test" in shown, shown
        for name in ("api-key", "admin-password", "secret-key", "db-password"):
            assert f"{name}-value" not in shown, (name, shown)


def test_a_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "secret.key"
    first = load_or_create(path)
    assert len(first) == 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700  # made for it: owner-only too
    assert load_or_create(path) == first
    assert list(path.parent.iterdir()) == [path]  # no draft left behind
    settings = load_settings(env={"ANYCHAT_SECRET_KEY_FILE": str(path)}, secrets={})
    assert server_secret(settings) == first


def test_pseudonyms_depend_on_the_secret_and_the_user() -> None:
    assert pseudonym(b"one", 1) == pseudonym(b"one", 1)
    assert pseudonym(b"one", 1) != pseudonym(b"two", 1)
    assert pseudonym(b"one", 1) != pseudonym(b"one", 2)
