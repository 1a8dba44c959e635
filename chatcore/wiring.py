"""Wiring: one database, client, worker and catalog per process and configuration."""

from __future__ import annotations

import atexit
import gc
import logging
import threading
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from chatcore.chat.catalog import ModelCatalog, ModelList
from chatcore.chat.client import list_model_ids, make_client
from chatcore.chat.library import Library
from chatcore.chat.model_settings import ModelSettings, stored_overrides
from chatcore.chat.outgoing import ContextWindows, OutgoingRequests
from chatcore.chat.presence import ProcessPresence
from chatcore.chat.presets import PresetBook
from chatcore.chat.relay import PostgresRelay, RelayPump
from chatcore.chat.search import SearchService
from chatcore.chat.transfer import TransferService
from chatcore.chat.use_cases import ChatService
from chatcore.chat.voice import Transcriber
from chatcore.chat.worker import GenerationWorker
from chatcore.config import Settings
from chatcore.context import TokenCounter
from chatcore.server_secret import server_secret
from chatcore.team.accounts import AccountService
from chatcore.team.keys import KeyVault, PersonalKeys
from chatcore.team.model_access import ModelAccess
from chatcore.team.policy import AccountPolicy
from chatcore.team.prices import PriceList
from chatcore.team.sharing import Sharing
from chatcore.team.signin_throttle import SignInThrottle
from chatcore.team.usage import UsageReports
from storage import (
    ChatRepository,
    Database,
    KeyRepository,
    ProcessRepository,
    SearchRepository,
    ShareRepository,
    SignInAttemptRepository,
    TransferRepository,
    UsageLedger,
    UserRecord,
    UserRepository,
    upgrade_to_head,
)
from storage.library import LibraryRepository
from storage.team_settings import TeamSettingsRepository

if TYPE_CHECKING:  # openai takes ~0.5 s to import; only the generation thread needs it
    from openai import OpenAI

log = logging.getLogger(__name__)

MAX_CLIENTS = 64  # the team's client plus personal keys' clients kept warm
# How often each process deletes abandoned temporary chats and expired conversations.
HOUSEKEEPING_SECONDS = 600.0


@dataclass
class Infrastructure:
    """What the use cases are built on. Pages and HTTP routes never reach in here (the layering
    check in tests/test_layering.py holds them to it); wiring and tests do."""

    database: Database
    chats: ChatRepository
    users: UserRepository
    shares: ShareRepository
    keys: KeyRepository
    usage: UsageLedger
    signin: SignInAttemptRepository
    worker: GenerationWorker
    catalog: ModelCatalog
    processes: ProcessRepository
    presence: ProcessPresence
    # Replies and Stops between processes: PostgreSQL only; SQLite serves one process.
    relay: PostgresRelay | None = None


@dataclass
class Services:
    """The one door from the UI and the HTTP routes into the core: use cases only.

    The Streamlit layer holds exactly one per Settings value and process.
    """

    settings: Settings
    chat: ChatService
    presets: PresetBook
    accounts: AccountService
    keys: PersonalKeys
    sharing: Sharing
    usage: UsageReports
    transfer: TransferService
    library: Library
    search: SearchService
    model_settings: ModelSettings
    prices: PriceList
    model_access: ModelAccess
    voice: Transcriber
    infra: Infrastructure

    @cached_property
    def local_user(self) -> UserRecord:
        """The one account of single-user mode (ANYCHAT_AUTH=none); it administers itself."""
        return self.accounts.local_user()

    def can_send(self, user: UserRecord) -> bool:
        """Whether a key exists for this teammate's requests: the team's or their own."""
        return self.settings.has_api_key or self.keys.has(user.id)

    def model_list(self) -> ModelList:
        """For pages: never waits behind a listing already in flight."""
        return self.infra.catalog.models(wait=False)

    def model_list_for(self, user: UserRecord) -> ModelList:
        """The picker's list for `user`: only the models the team allows them."""
        return self.model_access.offered(self.model_list(), user)

    def refresh_models(self) -> None:
        """Drop the cached model list; the next page run lists the models again."""
        self.infra.catalog.refresh()

    def close(self) -> None:
        self.infra.worker.shutdown()  # its own replies end as stopped, their text kept
        if self.infra.relay is not None:
            self.infra.relay.close()
        self.infra.presence.close()  # leaves the registry: peers need not wait for it
        self.infra.database.dispose()


def build_services(settings: Settings, *, prefetch_models: bool = True) -> Services:
    """Migrate (once, whoever starts first), join the processes sharing the database (closing
    the replies of those that stopped), and start the worker."""
    database = Database(settings.database_url, settings.db_pool_size)
    upgrade_to_head(database.engine)
    chats = ChatRepository(database)
    processes = ProcessRepository(database)
    presence = ProcessPresence(processes, settings.process_stale_seconds)

    client_lock = threading.Lock()
    clients: dict[str | None, OpenAI] = {}

    def client(api_key: str | None = None) -> OpenAI:
        """The team's client (None), or one per personal key; built lazily, then reused.

        Lazily: with no key configured the app must still start.
        """
        with client_lock:
            if api_key not in clients:
                if len(clients) > MAX_CLIENTS:  # keys replaced over time: drop the oldest
                    clients.pop(next(key for key in clients if key is not None))
                keyed = settings if api_key is None else replace(settings, api_key=api_key)
                clients[api_key] = make_client(keyed)
            return clients[api_key]

    team_settings = TeamSettingsRepository(database)
    windows = ContextWindows(
        lambda: stored_overrides(team_settings), settings.default_context_tokens
    )
    # The tokenizer loads (0.7 s, about 130 MB) the first time a request comes near its model's
    # window: shorter ones are measured by their bytes (chatcore/context/tokens.py, ByteBound).
    outgoing = OutgoingRequests(chats, windows, TokenCounter())
    worker = GenerationWorker(
        chats,
        client,
        base_url=settings.base_url,
        timeout=settings.request_timeout,
        max_workers=settings.generation_workers,
        prepare=outgoing.prepare,
    )
    relay = None
    if database.engine.dialect.name == "postgresql":
        relay = PostgresRelay(settings.database_url, on_stop=worker.cancel)
        worker.relay_to(RelayPump(relay))
        presence.announce_to(relay.publish_end)
    catalog = ModelCatalog(
        lambda: list_model_ids(client()),
        ttl=settings.models_cache_seconds,
        default_model=settings.default_model,
    )
    secret = server_secret(settings)
    users = UserRepository(database)
    shares = ShareRepository(database)
    key_store = KeyRepository(database)
    ledger = UsageLedger(database)
    signin = SignInAttemptRepository(database)
    throttle = SignInThrottle(signin, settings, secret=secret)
    accounts = AccountService(users, settings, throttle, secret=secret)
    purged = accounts.purge_expired_sessions()
    if purged:
        log.info("deleted %d expired session(s)", purged)
    if accounts.bootstrap_from_settings():
        log.info("created the administrator named by ANYCHAT_ADMIN_USER")
    if settings.auth_mode == "local" and accounts.needs_first_admin():
        log.warning(
            "No account exists yet: to create the administrator, open the sign-in page "
            "(/signin) and enter the setup code %s (it works with this server process only).",
            accounts.setup_code(),
        )
    keys = PersonalKeys(key_store, KeyVault(secret))
    prices = PriceList(team_settings, settings.currency, require_admin=accounts.require_admin)
    policy = AccountPolicy(settings, ledger, keys, prices=prices)
    model_access = ModelAccess(team_settings, users.get_user, require_admin=accounts.require_admin)
    chat = ChatService(
        settings,
        chats,
        worker,
        secret,
        policy,
        lambda: catalog.models(wait=False),
        presence=presence,
        relay=relay,
        outgoing=outgoing,
        model_access=model_access,
    )
    presets = PresetBook(chats, settings.default_model)
    library = Library(
        LibraryRepository(database),
        presets,
        require_admin=accounts.require_admin,
        temporary_chat_hours=settings.temporary_chat_hours,
    )
    presence.add_chore(library.sweep, every_seconds=HOUSEKEEPING_SECONDS)
    services = Services(
        settings=settings,
        chat=chat,
        presets=presets,
        accounts=accounts,
        keys=keys,
        sharing=Sharing(chats, shares),
        usage=UsageReports(ledger),
        transfer=TransferService(TransferRepository(database), settings),
        library=library,
        search=SearchService(SearchRepository(database)),
        model_settings=ModelSettings(team_settings, windows, require_admin=accounts.require_admin),
        prices=prices,
        model_access=model_access,
        voice=Transcriber(settings, client, policy),
        infra=Infrastructure(
            database,
            chats,
            users,
            shares,
            key_store,
            ledger,
            signin,
            worker,
            catalog,
            processes,
            presence,
            relay,
        ),
    )
    if prefetch_models and settings.has_api_key:
        # Warm the picker (and the openai import) in the background, so the first page load
        # never waits on either; and learn whether the server transcribes (the microphone).
        def prefetch() -> None:
            catalog.models()
            services.voice.probe()
            freeze_long_lived_objects()

        threading.Thread(target=prefetch, name="anychat-models", daemon=True).start()
    freeze_long_lived_objects()
    return services


def freeze_long_lived_objects() -> None:
    """Move what exists now (modules, engine, client) out of the garbage collector's scans.

    Streamlit runs a full collection after every script run; without this each one rescans
    every imported module (~85 ms with the GIL held, stalling every user's stream).
    """
    gc.freeze()


_shared: dict[Settings, Services] = {}
_shared_lock = threading.Lock()


def shared_services(settings: Settings) -> Services:
    """The process's services for `settings`, shared by the pages and the sign-in routes, so
    both use one engine, one worker and one client.

    They are closed when the interpreter exits (Streamlit stops cleanly on SIGTERM): replies
    this process is writing end as stopped, their text kept, and it leaves the process
    registry at once, so its peers need not wait out the stale window.
    """
    with _shared_lock:
        if settings not in _shared:
            _shared[settings] = build_services(settings)
        return _shared[settings]


def close_shared_services() -> None:
    """Close every shared instance (tests, and a clean interpreter exit)."""
    with _shared_lock:
        instances = list(_shared.values())
        _shared.clear()
    for instance in instances:
        log.info("stopping: %d reply(s) end as stopped", instance.infra.worker.active_count())
        instance.close()


atexit.register(close_shared_services)
