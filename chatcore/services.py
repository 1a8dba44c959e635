"""Wiring: one database, client, worker and catalog per process and configuration."""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from chatcore.catalog import ModelCatalog, ModelList
from chatcore.client import list_model_ids, make_client
from chatcore.config import Settings
from chatcore.presets import PresetBook
from chatcore.server_secret import server_secret
from chatcore.service import RESTART_NOTE, ChatService
from chatcore.worker import GenerationWorker
from storage import LOCAL_USERNAME, ChatRepository, Database, UserRecord, upgrade_to_head

if TYPE_CHECKING:  # openai takes ~0.5 s to import; only the generation thread needs it
    from openai import OpenAI

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Process-wide objects. The Streamlit layer holds exactly one per Settings value."""

    settings: Settings
    database: Database
    repository: ChatRepository
    worker: GenerationWorker
    catalog: ModelCatalog
    chat: ChatService
    presets: PresetBook

    @cached_property
    def local_user(self) -> UserRecord:
        """Until accounts exist every conversation belongs to this one local user."""
        return self.repository.ensure_user(LOCAL_USERNAME, "Local user")

    def model_list(self) -> ModelList:
        """For pages: never waits behind a listing already in flight."""
        return self.catalog.models(wait=False)

    def close(self) -> None:
        self.worker.shutdown()
        self.database.dispose()


def build_services(settings: Settings, *, prefetch_models: bool = True) -> Services:
    """Migrate, recover replies a previous process left open, and start the worker."""
    database = Database(settings.database_url)
    upgrade_to_head(database.engine)
    repository = ChatRepository(database)
    recovered = repository.interrupt_streaming(RESTART_NOTE)
    if recovered:
        log.info("closed %d reply(s) left open by a previous process", recovered)

    client_lock = threading.Lock()
    client_holder: list[OpenAI] = []

    def client() -> OpenAI:
        # Built lazily and once: with no key configured the app must still start.
        with client_lock:
            if not client_holder:
                client_holder.append(make_client(settings))
            return client_holder[0]

    worker = GenerationWorker(
        repository,
        client,
        base_url=settings.base_url,
        timeout=settings.request_timeout,
        max_workers=settings.generation_workers,
    )
    catalog = ModelCatalog(
        lambda: list_model_ids(client()),
        ttl=settings.models_cache_seconds,
        default_model=settings.default_model,
    )
    chat = ChatService(settings, repository, worker, server_secret(settings))
    presets = PresetBook(repository, settings.default_model)
    services = Services(settings, database, repository, worker, catalog, chat, presets)
    if prefetch_models and settings.has_api_key:
        # Warm the picker (and the openai import) in the background, so the first page load
        # never waits on either.
        def prefetch() -> None:
            catalog.models()
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
