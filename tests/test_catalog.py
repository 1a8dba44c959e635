"""The model picker's list: fetched from /models, cached, and never empty."""

from __future__ import annotations

import threading
import time

from chatcore.chat.catalog import ModelCatalog
from chatcore.i18n import translator
from chatcore.wiring import Services
from tests.support.fake_openai import FakeOpenAI


def test_models_come_from_the_server_with_the_default_first(
    services: Services, fake_api: FakeOpenAI
) -> None:
    models = services.model_list()
    assert models.error is None
    assert models.ids[0] == "gpt-4o"
    assert set(models.ids) == {"gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "deepseek-chat"}
    assert [r.path for r in fake_api.requests] == ["/v1/models"]
    assert fake_api.requests[0].headers["authorization"] == "Bearer sk-test-secret-key"


def test_list_is_cached(services: Services, fake_api: FakeOpenAI) -> None:
    services.model_list()
    services.model_list()
    assert len([r for r in fake_api.requests if r.path == "/v1/models"]) == 1


def test_failure_falls_back_to_the_default_model(services: Services, fake_api: FakeOpenAI) -> None:
    fake_api.models_status = 500
    models = services.model_list()
    assert models.ids == ("gpt-4o",)
    assert models.error is not None and models.error.code == "model_list_unavailable"
    assert "type a model name" in models.error.message
    assert translator("zh_CN").explain(models.error)  # said in the reader's language


def test_a_page_does_not_wait_for_a_listing_in_flight() -> None:
    release = threading.Event()

    def slow_fetch() -> list[str]:
        release.wait(5)
        return ["a"]

    catalog = ModelCatalog(slow_fetch, ttl=60, default_model="z")
    prefetch = threading.Thread(target=catalog.models)
    prefetch.start()
    time.sleep(0.05)
    started = time.monotonic()
    loading = catalog.models(wait=False)
    assert time.monotonic() - started < 0.05
    assert loading.ids == ("z",)
    assert loading.error is not None and "Loading" in loading.error.message
    release.set()
    prefetch.join()
    assert catalog.models(wait=False).ids == ("z", "a")


def test_expired_entries_are_fetched_again() -> None:
    calls: list[float] = []

    def fetch() -> list[str]:
        calls.append(time.monotonic())
        return ["b", "a"]

    catalog = ModelCatalog(fetch, ttl=0.05, default_model="z")
    assert catalog.models().ids == ("z", "a", "b")
    catalog.models()
    time.sleep(0.06)
    catalog.models()
    assert len(calls) == 2
    catalog.refresh()
    assert len(calls) == 3
