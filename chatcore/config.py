"""All configuration, read in one place: environment variables win over .streamlit/secrets.toml."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from babel.numbers import is_currency

from chatcore.errors import ConfigError
from chatcore.i18n import AUTO, N_, languages, normalise

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRETS_PATH = PROJECT_ROOT / ".streamlit" / "secrets.toml"
DEFAULT_BASE_URL = "https://www.anyapi.vip/v1"
DEFAULT_DATABASE_URL = "sqlite:///data/anychat.db"
DEFAULT_MODEL = "gpt-4o"
DEFAULT_DB_POOL_SIZE = 20
DEFAULT_SECRET_KEY_FILE = "data/secret.key"
AUTH_MODES = ("local", "oidc", "proxy", "none")
DEFAULT_PROXY_HEADER = "X-Forwarded-User"


def redact_url(url: str) -> str:
    """A URL fit for logs: a password in it (postgresql://user:secret@host) becomes ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:***@{netloc[1]}"))


@dataclass(frozen=True, slots=True)
class Settings:
    api_key: str | None
    base_url: str
    database_url: str
    default_model: str
    request_timeout: float
    max_retries: int
    models_cache_seconds: float
    max_message_chars: int
    generation_workers: int
    # Connections a process keeps open to a server database (PostgreSQL); SQLite keeps
    # SQLAlchemy's default. See storage/db.py for why.
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    secret_key: str | None = None
    secret_key_file: str = DEFAULT_SECRET_KEY_FILE
    # Who may use the app: "local" accounts with passwords, "oidc" single sign-on, a trusted
    # reverse "proxy" naming the user in a header, or "none" (one implicit user, no sign-in).
    auth_mode: str = "local"
    admin_user: str | None = None
    admin_password: str | None = None
    proxy_header: str = DEFAULT_PROXY_HEADER
    session_days: float = 30.0
    # Wrong passwords for one account from one client address within the window; past it
    # that address waits for the window to end (others, the account's owner included, do not).
    signin_limit: int = 5
    signin_window_minutes: float = 15.0
    # Reverse proxies whose X-Forwarded-For names the client and, in proxy mode, the only
    # peers whose user header is believed. Addresses or CIDR ranges.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Hosts whose images a reply may show inline; any other image is offered as a link.
    image_hosts: tuple[str, ...] = ()
    # The interface language for readers who chose none and whose browser asks for none we
    # have: "auto" (English) or a catalogue's language ("zh_CN").
    language: str = AUTO
    # A process that has not beaten for this long is presumed dead: its unfinished replies
    # are closed, their text kept (chatcore/chat/presence.py). It beats every third of this.
    process_stale_seconds: float = 30.0
    # The largest file a person may import (our JSON, a zip of it, or ChatGPT's export), in
    # bytes once uncompressed as well as uploaded: a zip bomb is refused at this size.
    import_max_mb: float = 50.0
    # A temporary chat is deleted when its owner leaves it, or this many hours after it was
    # last used if they never come back.
    temporary_chat_hours: float = 24.0
    # Files attached to one message: the largest file, how many, all of them together, and a
    # PDF's pages. Enforced on the server (chatcore/attachments), whatever the browser allowed.
    attach_max_file_mb: float = 10.0
    attach_max_files: int = 5
    attach_max_message_mb: float = 20.0
    attach_max_pdf_pages: int = 100
    # An image's longest side once scaled for the model: larger ones cost tokens and upload
    # time and rarely read better.
    image_max_side: int = 2048
    # The model /audio/transcriptions is asked with; "off" hides the microphone.
    transcription_model: str = "whisper-1"
    # The context window assumed for a model the built-in table does not know and no
    # administrator has set (chatcore/context/windows.py).
    default_context_tokens: int = 32768
    # The one currency the administrators' price list and every cost shown are in (ISO 4217).
    currency: str = "CNY"

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key)

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks; the key must not.
        # The same goes for the bootstrap admin password and the server secret.
        shown = "set" if self.api_key else "missing"
        return (
            f"Settings(api_key=<{shown}>, base_url={self.base_url!r}, "
            f"db={redact_url(self.database_url)!r}, auth={self.auth_mode!r})"
        )


# name -> (secrets.toml key, default, description). The README table mirrors this list.
VARIABLES: dict[str, tuple[str, str | None, str]] = {
    "ANYAPI_API_KEY": ("ANYAPI_API_KEY", None, "AnyAPI key; falls back to OPENAI_API_KEY"),
    "ANYAPI_BASE_URL": ("ANYAPI_BASE_URL", DEFAULT_BASE_URL, "OpenAI-compatible endpoint"),
    "DATABASE_URL": ("DATABASE_URL", DEFAULT_DATABASE_URL, "any SQLAlchemy URL"),
    "ANYCHAT_DEFAULT_MODEL": ("ANYCHAT_DEFAULT_MODEL", DEFAULT_MODEL, "model for new chats"),
    "ANYAPI_TIMEOUT": ("ANYAPI_TIMEOUT", "120", "seconds to wait for AnyAPI"),
    "ANYAPI_MAX_RETRIES": ("ANYAPI_MAX_RETRIES", "2", "SDK retries on 408/409/429/5xx"),
    "ANYCHAT_MODELS_CACHE_SECONDS": ("ANYCHAT_MODELS_CACHE_SECONDS", "600", "model list TTL"),
    "ANYCHAT_MAX_MESSAGE_CHARS": ("ANYCHAT_MAX_MESSAGE_CHARS", "100000", "longest message"),
    "ANYCHAT_GENERATION_WORKERS": ("ANYCHAT_GENERATION_WORKERS", "16", "parallel replies"),
    "ANYCHAT_DB_POOL_SIZE": (
        "ANYCHAT_DB_POOL_SIZE",
        str(DEFAULT_DB_POOL_SIZE),
        "PostgreSQL connections each process keeps open",
    ),
    "ANYCHAT_SECRET_KEY": (
        "ANYCHAT_SECRET_KEY",
        None,
        "server secret keying the pseudonymous `user` id; generated when unset",
    ),
    "ANYCHAT_SECRET_KEY_FILE": (
        "ANYCHAT_SECRET_KEY_FILE",
        DEFAULT_SECRET_KEY_FILE,
        "where the generated secret is kept (mode 600)",
    ),
    "ANYCHAT_AUTH": ("ANYCHAT_AUTH", "local", "sign-in: local, oidc, proxy or none"),
    "ANYCHAT_ADMIN_USER": (
        "ANYCHAT_ADMIN_USER",
        None,
        "administrator created on first start (with ANYCHAT_ADMIN_PASSWORD)",
    ),
    "ANYCHAT_ADMIN_PASSWORD": (
        "ANYCHAT_ADMIN_PASSWORD",
        None,
        "that administrator's first password; never overwrites a changed one",
    ),
    "ANYCHAT_PROXY_HEADER": (
        "ANYCHAT_PROXY_HEADER",
        DEFAULT_PROXY_HEADER,
        "header naming the user when ANYCHAT_AUTH=proxy",
    ),
    "ANYCHAT_SESSION_DAYS": ("ANYCHAT_SESSION_DAYS", "30", "days a sign-in lasts"),
    "ANYCHAT_SIGNIN_LIMIT": (
        "ANYCHAT_SIGNIN_LIMIT",
        "5",
        "wrong passwords for one account from one address before that address must wait",
    ),
    "ANYCHAT_SIGNIN_WINDOW_MINUTES": (
        "ANYCHAT_SIGNIN_WINDOW_MINUTES",
        "15",
        "the window those attempts are counted in",
    ),
    "ANYCHAT_TRUSTED_PROXIES": (
        "ANYCHAT_TRUSTED_PROXIES",
        "127.0.0.1,::1",
        "reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For and user header count",
    ),
    "ANYCHAT_IMAGE_HOSTS": (
        "ANYCHAT_IMAGE_HOSTS",
        None,
        "hosts replies may show images from, comma-separated; others become links",
    ),
    "ANYCHAT_PROCESS_STALE_SECONDS": (
        "ANYCHAT_PROCESS_STALE_SECONDS",
        "30",
        "seconds without a heartbeat after which a process is presumed dead and its "
        "unfinished replies are closed (several processes on one PostgreSQL)",
    ),
    "ANYCHAT_LANGUAGE": (
        "ANYCHAT_LANGUAGE",
        "auto",
        "interface language when neither the person nor their browser chose one: "
        "`auto` (English), `en` or `zh-CN`",
    ),
    "ANYCHAT_IMPORT_MAX_MB": (
        "ANYCHAT_IMPORT_MAX_MB",
        "50",
        "largest conversation import (uploaded, and once unzipped), in megabytes",
    ),
    "ANYCHAT_TEMPORARY_CHAT_HOURS": (
        "ANYCHAT_TEMPORARY_CHAT_HOURS",
        "24",
        "hours after its last use that a temporary chat its owner never left is deleted",
    ),
    "ANYCHAT_ATTACH_MAX_FILE_MB": (
        "ANYCHAT_ATTACH_MAX_FILE_MB",
        "10",
        "largest file attached to a message, in megabytes",
    ),
    "ANYCHAT_ATTACH_MAX_FILES": (
        "ANYCHAT_ATTACH_MAX_FILES",
        "5",
        "most files attached to one message",
    ),
    "ANYCHAT_ATTACH_MAX_MESSAGE_MB": (
        "ANYCHAT_ATTACH_MAX_MESSAGE_MB",
        "20",
        "all the files of one message together, in megabytes",
    ),
    "ANYCHAT_ATTACH_MAX_PDF_PAGES": (
        "ANYCHAT_ATTACH_MAX_PDF_PAGES",
        "100",
        "most pages of an attached PDF",
    ),
    "ANYCHAT_IMAGE_MAX_SIDE": (
        "ANYCHAT_IMAGE_MAX_SIDE",
        "2048",
        "longest side, in pixels, an attached image is scaled down to before it is sent",
    ),
    "ANYCHAT_TRANSCRIPTION_MODEL": (
        "ANYCHAT_TRANSCRIPTION_MODEL",
        "whisper-1",
        "model for voice input through /audio/transcriptions; `off` hides the microphone",
    ),
    "ANYCHAT_DEFAULT_CONTEXT_TOKENS": (
        "ANYCHAT_DEFAULT_CONTEXT_TOKENS",
        "32768",
        "context window assumed for a model neither the built-in table nor an administrator knows",
    ),
    "ANYCHAT_CURRENCY": (
        "ANYCHAT_CURRENCY",
        "CNY",
        "currency of the price list and of the costs shown, as an ISO 4217 code (`CNY`, `USD`)",
    ),
}


def read_secrets(path: Path = DEFAULT_SECRETS_PATH) -> dict[str, Any]:
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        try:
            return tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                N_("{path} is not valid TOML: {detail}"),
                code="secrets_not_toml",
                path=str(path),
                detail=str(exc),
            ) from exc


def _number(name: str, raw: str, kind: type[int] | type[float], minimum: float) -> Any:
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(
            N_("{variable} must be a number, got {value!r}"),
            code="not_a_number",
            variable=name,
            value=raw,
        ) from None
    if value < minimum:
        raise ConfigError(
            N_("{variable} must be at least {minimum}, got {value!r}"),
            code="below_minimum",
            variable=name,
            minimum=minimum,
            value=raw,
        )
    return value


def _auth_mode(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in AUTH_MODES:
        raise ConfigError(
            N_("ANYCHAT_AUTH must be one of {choices}, got {value!r}"),
            code="unknown_auth_mode",
            choices=", ".join(AUTH_MODES),
            value=raw,
        )
    return mode


def _items(raw: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (raw or "").split(",") if item.strip())


def _networks(name: str, raw: str | None) -> tuple[str, ...]:
    items = _items(raw)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                N_("{variable}: {value!r} is not an address or CIDR range"),
                code="not_a_network",
                variable=name,
                value=item,
            ) from None
    return items


def _hosts(raw: str | None) -> tuple[str, ...]:
    # Host names compare case-insensitively; a trailing dot names the same host.
    return tuple(item.lower().rstrip(".") for item in _items(raw))


def _language(raw: str) -> str:
    if raw.lower() == AUTO:
        return AUTO
    found = normalise(raw)
    if found is None:
        raise ConfigError(
            N_("ANYCHAT_LANGUAGE must be auto or one of {languages}, not {value!r}."),
            code="language_unknown",
            value=raw,
            languages=", ".join(languages()),
        )
    return found


def _currency(raw: str) -> str:
    code = raw.upper()
    if not is_currency(code):
        raise ConfigError(
            N_("ANYCHAT_CURRENCY must be an ISO 4217 currency code such as CNY, not {value!r}."),
            code="currency_unknown",
            value=raw,
        )
    return code


def load_settings(
    env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None
) -> Settings:
    """Resolve every setting: environment, then secrets.toml, then the built-in default."""
    env = os.environ if env is None else env
    secrets = read_secrets() if secrets is None else secrets

    def get(name: str) -> str | None:
        value = env.get(name)
        if value in (None, ""):
            value = secrets.get(VARIABLES[name][0])
        if value in (None, ""):
            value = VARIABLES[name][1]
        return None if value is None else str(value).strip()

    api_key = get("ANYAPI_API_KEY") or env.get("OPENAI_API_KEY") or secrets.get("OPENAI_API_KEY")
    return Settings(
        api_key=api_key or None,
        base_url=str(get("ANYAPI_BASE_URL")).rstrip("/"),
        database_url=str(get("DATABASE_URL")),
        default_model=str(get("ANYCHAT_DEFAULT_MODEL")),
        request_timeout=_number("ANYAPI_TIMEOUT", str(get("ANYAPI_TIMEOUT")), float, 1),
        max_retries=_number("ANYAPI_MAX_RETRIES", str(get("ANYAPI_MAX_RETRIES")), int, 0),
        models_cache_seconds=_number(
            "ANYCHAT_MODELS_CACHE_SECONDS", str(get("ANYCHAT_MODELS_CACHE_SECONDS")), float, 0
        ),
        max_message_chars=_number(
            "ANYCHAT_MAX_MESSAGE_CHARS", str(get("ANYCHAT_MAX_MESSAGE_CHARS")), int, 1
        ),
        generation_workers=_number(
            "ANYCHAT_GENERATION_WORKERS", str(get("ANYCHAT_GENERATION_WORKERS")), int, 1
        ),
        db_pool_size=_number("ANYCHAT_DB_POOL_SIZE", str(get("ANYCHAT_DB_POOL_SIZE")), int, 1),
        secret_key=get("ANYCHAT_SECRET_KEY") or None,
        secret_key_file=str(get("ANYCHAT_SECRET_KEY_FILE")),
        auth_mode=_auth_mode(str(get("ANYCHAT_AUTH"))),
        admin_user=get("ANYCHAT_ADMIN_USER") or None,
        admin_password=get("ANYCHAT_ADMIN_PASSWORD") or None,
        proxy_header=str(get("ANYCHAT_PROXY_HEADER")),
        session_days=_number("ANYCHAT_SESSION_DAYS", str(get("ANYCHAT_SESSION_DAYS")), float, 0.01),
        signin_limit=_number("ANYCHAT_SIGNIN_LIMIT", str(get("ANYCHAT_SIGNIN_LIMIT")), int, 1),
        signin_window_minutes=_number(
            "ANYCHAT_SIGNIN_WINDOW_MINUTES", str(get("ANYCHAT_SIGNIN_WINDOW_MINUTES")), float, 0.1
        ),
        trusted_proxies=_networks("ANYCHAT_TRUSTED_PROXIES", get("ANYCHAT_TRUSTED_PROXIES")),
        image_hosts=_hosts(get("ANYCHAT_IMAGE_HOSTS")),
        language=_language(str(get("ANYCHAT_LANGUAGE"))),
        process_stale_seconds=_number(
            "ANYCHAT_PROCESS_STALE_SECONDS", str(get("ANYCHAT_PROCESS_STALE_SECONDS")), float, 3
        ),
        import_max_mb=_number(
            "ANYCHAT_IMPORT_MAX_MB", str(get("ANYCHAT_IMPORT_MAX_MB")), float, 0.01
        ),
        temporary_chat_hours=_number(
            "ANYCHAT_TEMPORARY_CHAT_HOURS", str(get("ANYCHAT_TEMPORARY_CHAT_HOURS")), float, 0.01
        ),
        attach_max_file_mb=_number(
            "ANYCHAT_ATTACH_MAX_FILE_MB", str(get("ANYCHAT_ATTACH_MAX_FILE_MB")), float, 0.01
        ),
        attach_max_files=_number(
            "ANYCHAT_ATTACH_MAX_FILES", str(get("ANYCHAT_ATTACH_MAX_FILES")), int, 0
        ),
        attach_max_message_mb=_number(
            "ANYCHAT_ATTACH_MAX_MESSAGE_MB", str(get("ANYCHAT_ATTACH_MAX_MESSAGE_MB")), float, 0.01
        ),
        attach_max_pdf_pages=_number(
            "ANYCHAT_ATTACH_MAX_PDF_PAGES", str(get("ANYCHAT_ATTACH_MAX_PDF_PAGES")), int, 1
        ),
        image_max_side=_number(
            "ANYCHAT_IMAGE_MAX_SIDE", str(get("ANYCHAT_IMAGE_MAX_SIDE")), int, 64
        ),
        transcription_model=str(get("ANYCHAT_TRANSCRIPTION_MODEL")),
        default_context_tokens=_number(
            "ANYCHAT_DEFAULT_CONTEXT_TOKENS", str(get("ANYCHAT_DEFAULT_CONTEXT_TOKENS")), int, 512
        ),
        currency=_currency(str(get("ANYCHAT_CURRENCY"))),
    )


_current: tuple[tuple[object, ...], Settings] | None = None


def _sources_now(path: Path = DEFAULT_SECRETS_PATH) -> tuple[object, ...]:
    """What the settings are read from, cheaply: the variables' values and the secrets file's
    size and modification time."""
    try:
        stat = path.stat()
        file: object = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        file = None
    names = (*VARIABLES, "OPENAI_API_KEY")
    return (file, *(os.environ.get(name) for name in names))


def current_settings() -> Settings:
    """load_settings() for a running process, read again only when the environment's AnyChat
    variables or secrets.toml change, rather than parsing the file at every request and page
    run (pages and the sign-in guard ask for the settings every time)."""
    global _current
    sources = _sources_now()
    cached = _current
    if cached is not None and cached[0] == sources:
        return cached[1]
    loaded = load_settings()
    _current = (sources, loaded)
    return loaded
