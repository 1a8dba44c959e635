"""Export and import in Chromium, on the Account page: ChatGPT's export uploaded and imported
into a folder, its conversation opened by its link, a bad file refused with its reason, and
every conversation downloaded as a zip that holds them."""

from __future__ import annotations

import io
import json
import re
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from storage import Database
from storage.models import Conversation, Folder
from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    main_area,
    open_app,
    user_messages,
    wait_for_app_run,
)
from tests.support.app_process import AppProcess

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
FIXTURE = ROOT / "tests" / "fixtures" / "chatgpt_conversations.json"
IMPORTED = re.compile(
    r"Imported 3 conversations into the folder “ChatGPT import [0-9-]+ [0-9:]+”\."
)


@pytest.fixture(scope="module")
def app_database(app_server: AppProcess) -> Iterator[Database]:
    """The app's database, opened from the test process once the app has migrated it."""
    with urllib.request.urlopen(app_server.url, timeout=LOAD_TIMEOUT / 1000) as reply:
        assert reply.status == 200
    database = Database(f"sqlite:///{app_server.log_path.parent / 'anychat.db'}")
    yield database
    database.dispose()


def _account_page(page: Page, app_url: str) -> None:
    open_app(page, app_url)  # the chat page first: the app's services are up
    page.goto(f"{app_url}/account")
    expect(main_area(page).get_by_role("heading", name="Your conversations")).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    wait_for_app_run(page)


def _upload(page: Page, name: str, content: bytes, mime: str = "application/json") -> None:
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": content}]
    )
    expect(main_area(page).get_by_text(name)).to_be_visible(timeout=LOAD_TIMEOUT)
    wait_for_app_run(page)
    button = main_area(page).get_by_role("button", name="Import", exact=True)
    expect(button).to_be_enabled()
    button.click()
    wait_for_app_run(page)


def test_import_chatgpt_export_then_open_it_and_export_everything(
    page: Page, app_url: str, app_database: Database, tmp_path: Path
) -> None:
    _account_page(page, app_url)

    # A file that is not JSON: refused, saying where.
    _upload(page, "broken.json", b'{"title": "x",\n "mapping": ')
    expect(main_area(page).get_by_text("“broken.json” is not valid JSON")).to_be_visible()

    _upload(page, "conversations.json", FIXTURE.read_bytes())
    expect(main_area(page).get_by_text(IMPORTED)).to_be_visible(timeout=LOAD_TIMEOUT)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "import.png"), full_page=True)

    with app_database.session() as session:
        folder = session.scalars(select(Folder).order_by(Folder.id.desc())).first()
        assert folder is not None and folder.name.startswith("ChatGPT import ")
        found = session.execute(
            select(Conversation.id, Conversation.title).where(Conversation.folder_id == folder.id)
        ).all()
    by_title = {title: conversation_id for conversation_id, title in found}
    assert set(by_title) == {"Python 列表推导式", "Chart from a photo", "Regenerated haiku"}

    # Opened by its link: the branch its owner was on, in Chinese.
    open_app(page, f"{app_url}/?c={by_title['Python 列表推导式']}")
    expect(main_area(page).get_by_role("heading", name="Python 列表推导式")).to_be_visible()
    expect(user_messages(page)).to_have_count(2)
    expect(user_messages(page).last).to_contain_text("换成字典推导式呢？")
    wait_for_app_run(page)
    page.screenshot(path=str(ARTIFACTS / "import-opened.png"))

    # Everything, as a zip: each conversation's JSON parses and holds it.
    _account_page(page, app_url)
    with page.expect_download(timeout=LOAD_TIMEOUT) as started:
        main_area(page).get_by_role("button", name="Export all conversations").click()
    download = started.value
    assert re.fullmatch(
        r"anychat-conversations-\d{4}-\d{2}-\d{2}\.zip", download.suggested_filename
    )
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        titles = {entry["title"] for entry in manifest["conversations"]}
        assert {"Python 列表推导式", "Chart from a photo", "Regenerated haiku"} <= titles
        entry = next(e for e in manifest["conversations"] if e["title"] == "Python 列表推导式")
        document = json.loads(archive.read(entry["json"]).decode("utf-8"))
        assert "怎么用列表推导式" in archive.read(entry["markdown"]).decode("utf-8")
    assert document["title"] == "Python 列表推导式"
    assert len(document["messages"]) == 6
    assert document["openai_messages"][-1]["content"].startswith("`{x: x * x")
