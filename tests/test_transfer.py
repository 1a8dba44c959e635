"""Export and import of conversations, on SQLite and PostgreSQL: our JSON and zip round trip
to the same conversations (every branch, n choices, tool calls, failed replies, usage, times),
ChatGPT's export comes in with its branches and active thread, and every kind of bad file is
refused with its reason, or reported conversation by conversation, never half written.
"""

from __future__ import annotations

import ast
import io
import json
import string
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import func, select, update
from streamlit.testing.v1 import AppTest

import ui.auth
from chatcore.chat.import_files import bounded_reader
from chatcore.chat.transfer import TransferService, dump_json
from chatcore.chat.transfer_format import FIELD_INVALID, NOT_AN_OBJECT
from chatcore.chat.transfer_markdown import file_stem
from chatcore.chat.transfer_report import BrokenConversation, ImportReport
from chatcore.config import Settings, load_settings
from chatcore.errors import ConversationNotFound, ImportRefused, Sentence
from chatcore.i18n import translator
from chatcore.wiring import close_shared_services, shared_services
from storage import (
    ChatRepository,
    ConversationRecord,
    Database,
    FolderRecord,
    ImportedConversation,
    ImportedMessage,
    MessageRecord,
    MessageStatus,
    ReplyOutcome,
    Role,
    TransferRepository,
    UserRecord,
    UserRepository,
)
from storage.models import Conversation, Folder, Message, UsageEvent
from tests.support.fake_openai import FakeOpenAI
from ui.text import plain

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "chatgpt_conversations.json"
NOW = datetime(2026, 12, 2, 12, 34, 56, tzinfo=UTC)
CHINESE_TITLE = "周报：本周工作总结 / weekly"
SETTINGS = {"model": "gpt-4o", "system_prompt": "你是一个简洁的助手。", "temperature": 0.7}


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def ann(database: Database) -> UserRecord:
    return UserRepository(database).ensure_user("ann")


@pytest.fixture
def bob(database: Database) -> UserRecord:
    return UserRepository(database).ensure_user("bob")


def _settings(import_max_mb: float = 50.0) -> Settings:
    return replace(load_settings(env={}, secrets={}), import_max_mb=import_max_mb)


@pytest.fixture
def service(database: Database) -> TransferService:
    return TransferService(TransferRepository(database), _settings(), clock=lambda: NOW)


def _limited(database: Database, megabytes: float) -> TransferService:
    return TransferService(TransferRepository(database), _settings(megabytes), clock=lambda: NOW)


def _finish(repo: ChatRepository, reply: MessageRecord, content: str, **fields: Any) -> None:
    outcome = ReplyOutcome(content=content, status=fields.pop("status", MessageStatus.COMPLETE))
    for name, value in fields.items():
        setattr(outcome, name, value)
    repo.finish_reply(reply.id, outcome)


def _start(
    repo: ChatRepository,
    conversation: ConversationRecord,
    parent_id: int | None,
    text: str | None,
    choices: int = 1,
) -> list[MessageRecord]:
    return repo.start_reply(
        conversation.id,
        parent_id=parent_id,
        user_text=text,
        model="gpt-4o",
        request_params={
            "temperature": 0.7,
            "stream": True,
            **({"n": choices} if choices > 1 else {}),
        },
        settings=SETTINGS,
        choices=choices,
    )


def rich_conversation(repo: ChatRepository, user: UserRecord) -> ConversationRecord:
    """Every shape a conversation takes: an edited question, a regenerated reply that
    failed, tool calls with their result, three choices (one stopped), Chinese throughout."""
    chat = repo.create_conversation(user.id, CHINESE_TITLE, "gpt-4o", SETTINGS)
    question, answer = _start(repo, chat, None, "帮我总结本周的工作")
    _finish(
        repo,
        answer,
        "本周完成了**三件事**：\n\n1. 发布 2.0\n2. 修复登录问题\n3. 写文档",
        finish_reason="stop",
        model="gpt-4o-2024-08-06",
        prompt_tokens=12,
        completion_tokens=30,
        total_tokens=42,
        first_token_ms=150,
        total_ms=900,
        response_id="chatcmpl-1",
        request_id="req_1",
        system_fingerprint="fp_1",
    )
    (retry,) = _start(repo, chat, question.id, None)
    _finish(
        repo,
        retry,
        "",
        status=MessageStatus.ERROR,
        error="AnyAPI did not answer within 20 seconds.",
        error_code="timeout",
        error_params={"seconds": 20},
    )
    ask_time, calls = _start(repo, chat, answer.id, "现在几点？")
    tool_call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "current_time", "arguments": '{"timezone": "Asia/Shanghai"}'},
    }
    _finish(repo, calls, "", finish_reason="tool_calls", tool_calls=[tool_call], total_tokens=9)
    result = repo.add_message(
        chat.id, Role.TOOL, "2026-12-02T20:00:00+08:00", parent_id=calls.id, tool_call_id="call_1"
    )
    (after_tool,) = _start(repo, chat, result.id, None)
    _finish(repo, after_tool, "现在是北京时间晚上八点。", finish_reason="stop", total_tokens=20)
    _question, *choices = _start(repo, chat, after_tool.id, "给我三个标题", choices=3)
    for index, choice in enumerate(choices):
        stopped = index == 2
        _finish(
            repo,
            choice,
            f"标题 {index + 1}",
            status=MessageStatus.STOPPED if stopped else MessageStatus.COMPLETE,
            finish_reason=None if stopped else "stop",
        )
    edited, edited_answer = _start(repo, chat, None, "帮我总结上周的工作")
    _finish(repo, edited_answer, "上周主要在准备发布。", finish_reason="stop")
    # Back to the second of the three choices: the active branch is not the newest one.
    assert repo.select_branch(user.id, choices[1].id) is not None
    repo.set_pinned(user.id, chat.id, True)
    found = repo.get_conversation(user.id, chat.id)
    assert found is not None and found.active_leaf_id == choices[1].id
    assert ask_time.role == edited.role == Role.USER
    return found


def simple_conversation(
    repo: ChatRepository, user: UserRecord, title: str, **options: Any
) -> ConversationRecord:
    archived = options.pop("archived", False)
    chat = repo.create_conversation(user.id, title, "gpt-4o-mini", {}, **options)
    _question, answer = _start(repo, chat, None, f"question of {title}")
    _finish(repo, answer, f"answer of {title}", finish_reason="stop")
    if archived:
        with repo.db.session() as session:
            session.execute(
                update(Conversation).where(Conversation.id == chat.id).values(archived=True)
            )
    found = repo.get_conversation(user.id, chat.id)
    assert found is not None
    return found


def without_ids(document: dict[str, Any]) -> dict[str, Any]:
    """All but what an import may change: the conversation's id and the export's time."""
    return {key: value for key, value in document.items() if key not in ("id", "exported_at")}


def count(database: Database, model: Any, *where: Any) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def refused(raiser: Any) -> ImportRefused:
    with pytest.raises(ImportRefused) as caught:
        raiser()
    return caught.value


def zipped(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- export --------------------------------------------------------------------------------


def test_export_json_holds_every_branch_settings_usage_and_the_visible_thread(
    repo: ChatRepository, ann: UserRecord, service: TransferService
) -> None:
    chat = rich_conversation(repo, ann)
    document = service.export_json(ann.id, chat.id)
    assert (document["format"], document["version"], document["title"]) == (
        "anychat.conversation",
        1,
        CHINESE_TITLE,
    )
    assert document["settings"] == SETTINGS and document["pinned"] is True
    messages = document["messages"]
    assert len(messages) == 13  # every branch, not only the visible thread
    assert [m["id"] for m in messages] == list(range(1, 14))
    by_id = {m["id"]: m for m in messages}
    assert all(m["parent"] is None or m["parent"] < m["id"] for m in messages)
    first = messages[1]
    assert first["prompt_tokens"] == 12 and first["completion_tokens"] == 30
    assert (first["total_tokens"], first["first_token_ms"], first["total_ms"]) == (42, 150, 900)
    assert (first["finish_reason"], first["system_fingerprint"]) == ("stop", "fp_1")
    failed = [m for m in messages if m["status"] == "error"]
    assert [(m["error_code"], m["error_params"]) for m in failed] == [("timeout", {"seconds": 20})]
    (calling,) = [m for m in messages if "tool_calls" in m]
    assert calling["tool_calls"][0]["id"] == "call_1"
    assert [m["tool_call_id"] for m in messages if m["role"] == "tool"] == ["call_1"]
    choices = [m for m in messages if "choice_index" in m]
    assert [m["choice_index"] for m in choices] == [0, 1, 2]
    assert {m["choice_group"] for m in choices} == {choices[0]["id"]}
    leaf = by_id[document["active_leaf"]]
    assert leaf["content"] == "标题 2"
    assert document["usage"]["total_tokens"] == 42 + 9 + 20
    # The visible thread in the API's own form, ready to send again.
    assert document["openai_messages"] == [
        {"role": "system", "content": "你是一个简洁的助手。"},
        {"role": "user", "content": "帮我总结本周的工作"},
        {"role": "assistant", "content": messages[1]["content"]},
        {"role": "user", "content": "现在几点？"},
        {"role": "assistant", "content": None, "tool_calls": calling["tool_calls"]},
        {"role": "tool", "tool_call_id": "call_1", "content": "2026-12-02T20:00:00+08:00"},
        {"role": "assistant", "content": "现在是北京时间晚上八点。"},
        {"role": "user", "content": "给我三个标题"},
        {"role": "assistant", "content": "标题 2"},
    ]
    text = service.export_json_text(ann.id, chat.id)
    assert "帮我总结本周的工作" in text and "\\u" not in text  # readable Chinese, not escapes
    assert json.loads(text) == document


def test_export_markdown_reads_as_the_visible_thread(
    repo: ChatRepository, ann: UserRecord, service: TransferService
) -> None:
    chat = rich_conversation(repo, ann)
    repo.select_branch(ann.id, chat.active_leaf_id or 0)
    markdown = service.export_markdown(ann.id, chat.id)
    assert markdown.startswith(f"# {CHINESE_TITLE}\n")
    for expected in (
        "## System prompt\n\n你是一个简洁的助手。",
        "## User\n\n帮我总结本周的工作",
        "## Assistant · gpt-4o-2024-08-06\n\n本周完成了**三件事**",
        "**Tool call: current_time**",
        '{"timezone": "Asia/Shanghai"}',
        "## Tool result · call_1",
        "标题 2",
    ):
        assert expected in markdown
    assert "标题 1" not in markdown and "上周" not in markdown  # other branches are in the JSON

    # The failed retry, on its branch, in the reader's language when the catalogue has it.
    retry_leaf = repo.select_branch(ann.id, _message_id(repo, chat, "", MessageStatus.ERROR))
    assert retry_leaf is not None
    english = service.export_markdown(ann.id, chat.id)
    assert "> The reply failed: AnyAPI did not answer within 20 seconds." in english
    chinese = service.export_markdown(ann.id, chat.id, translate=translator("zh_CN"))
    assert "20" in chinese and "AnyAPI did not answer" not in chinese


def _message_id(
    repo: ChatRepository, chat: ConversationRecord, content: str, status: MessageStatus
) -> int:
    with repo.db.session() as session:
        found = session.scalar(
            select(Message.id).where(
                Message.conversation_id == chat.id,
                Message.content == content,
                Message.status == status.value,
            )
        )
    assert found is not None
    return int(found)


def test_nobody_exports_someone_elses_conversation_nor_a_temporary_one(
    repo: ChatRepository, ann: UserRecord, bob: UserRecord, service: TransferService
) -> None:
    mine = simple_conversation(repo, ann, "ann's")
    temporary = simple_conversation(repo, ann, "temporary", temporary=True)
    theirs = simple_conversation(repo, bob, "bob's")
    for user, conversation in ((bob, mine), (ann, temporary), (ann, theirs)):
        with pytest.raises(ConversationNotFound):
            service.export_json(user.id, conversation.id)
        with pytest.raises(ConversationNotFound):
            service.export_markdown(user.id, conversation.id)
    with zipfile.ZipFile(io.BytesIO(service.export_all(ann.id))) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert [entry["title"] for entry in manifest["conversations"]] == ["ann's"]
        text = b"".join(archive.read(name) for name in archive.namelist())
    assert b"temporary" not in text and b"bob's" not in text


def test_export_all_is_a_zip_of_json_and_markdown_with_chinese_names(
    repo: ChatRepository, ann: UserRecord, service: TransferService
) -> None:
    rich_conversation(repo, ann)
    simple_conversation(repo, ann, "Archived one", archived=False)
    data = service.export_all(ann.id)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        chinese = [info for info in archive.infolist() if "周报" in info.filename]
        assert {info.filename for info in chinese} == {
            "conversations/0001 周报：本周工作总结 weekly.json",
            "markdown/0001 周报：本周工作总结 weekly.md",
        }
        assert all(info.flag_bits & 0x800 for info in chinese)  # names flagged UTF-8
        document = json.loads(archive.read(chinese[0].filename).decode("utf-8"))
        assert CHINESE_TITLE.encode() in archive.read(chinese[0].filename)
        assert "帮我总结本周的工作" in archive.read(chinese[1].filename).decode("utf-8")
    assert manifest["format"] == "anychat.export" and manifest["count"] == 2
    assert [entry["json"] for entry in manifest["conversations"]] == [
        "conversations/0001 周报：本周工作总结 weekly.json",
        "conversations/0002 Archived one.json",
    ]
    assert "markdown/0002 Archived one.md" in names
    assert document["title"] == CHINESE_TITLE


@pytest.mark.parametrize(
    ("title", "stem"),
    [
        ("周报：本周工作总结 / weekly", "周报：本周工作总结 weekly"),
        ('a<b>c:"d"|e?*f\\g', "a b c d e f g"),
        ("  ..dots..  ", "dots"),
        ("CON", "_CON"),
        ("line\nbreak\u202etxt.exe", "line break txt.exe"),
        ("", "conversation"),
        ("长" * 100, "长" * 60),
    ],
)
def test_file_names_are_safe_and_keep_chinese(title: str, stem: str) -> None:
    assert file_stem(title) == stem


# --- round trips ---------------------------------------------------------------------------


def test_an_exported_conversation_imports_as_the_same_conversation(
    repo: ChatRepository, ann: UserRecord, service: TransferService, database: Database
) -> None:
    chat = rich_conversation(repo, ann)
    ledger_before = count(database, UsageEvent)
    first = service.export_json(ann.id, chat.id)
    report = service.import_file(ann.id, "周报.json", dump_json(first).encode())
    assert (report.source, report.imported, report.messages, report.broken) == (
        "anychat",
        1,
        13,
        [],
    )
    assert report.folder is not None and report.folder.name == "AnyChat import 2026-12-02 12:34"
    (new_id,) = report.conversation_ids
    assert new_id != chat.id
    second = service.export_json(ann.id, new_id)
    assert without_ids(second) == without_ids(first)
    imported = repo.get_conversation(ann.id, new_id)
    assert imported is not None
    assert (imported.folder_id, imported.temporary) == (report.folder.id, False)
    assert (imported.created_at, imported.updated_at) == (chat.created_at, chat.updated_at)
    # The same visible thread and branches, as the chat page loads them.
    original, copy = repo.load_thread(chat), repo.load_thread(imported)
    shape = [(m.role, m.content, m.status, m.total_tokens) for m in original.messages]
    assert [(m.role, m.content, m.status, m.total_tokens) for m in copy.messages] == shape
    assert [len(v) for v in copy.alternatives.values()] == [
        len(v) for v in original.alternatives.values()
    ]
    assert count(database, UsageEvent) == ledger_before  # importing spends no quota
    # What was never set is SQL NULL, not the JSON text 'null'.
    questions = (Message.conversation_id == new_id, Message.role == "user")
    assert count(database, Message, *questions, Message.request_params.is_(None)) == 4


def test_all_conversations_round_trip_through_the_zip(
    repo: ChatRepository, ann: UserRecord, bob: UserRecord, service: TransferService
) -> None:
    originals = [
        rich_conversation(repo, ann),
        simple_conversation(repo, ann, "English title"),
        simple_conversation(repo, ann, "归档的对话", archived=True),
    ]
    repo.create_conversation(ann.id, "empty", "gpt-4o")  # no messages at all
    exported = {
        tree.conversation.title: without_ids(service.export_json(ann.id, tree.conversation.id))
        for tree in service.repository.conversation_trees(ann.id)
    }
    assert len(exported) == 4 and len(originals) == 3
    report = service.import_file(bob.id, "anychat-conversations.zip", service.export_all(ann.id))
    assert (report.imported, report.broken) == (4, [])
    copies = {
        document["title"]: without_ids(document)
        for document in (service.export_json(bob.id, cid) for cid in report.conversation_ids)
    }
    assert copies == exported


def test_each_import_gets_a_folder_of_its_own(
    repo: ChatRepository, ann: UserRecord, service: TransferService, database: Database
) -> None:
    chat = simple_conversation(repo, ann, "twice")
    data = service.export_json_text(ann.id, chat.id).encode()
    names = [service.import_file(ann.id, "twice.json", data).folder for _ in range(3)]
    assert [folder.name for folder in names if folder] == [
        "AnyChat import 2026-12-02 12:34",
        "AnyChat import 2026-12-02 12:34 (2)",
        "AnyChat import 2026-12-02 12:34 (3)",
    ]
    chinese = service.import_file(ann.id, "x.json", data, translate=translator("zh_CN"))
    assert chinese.folder is not None and "2026-12-02 12:34" in chinese.folder.name
    # Names stay within the column's 100 characters, suffix included.
    transfer = TransferRepository(database)
    long_name = "x" * 100
    first, _ = transfer.import_conversations(ann.id, long_name, [])
    second, _ = transfer.import_conversations(ann.id, long_name, [])
    assert (first.name, second.name) == (long_name, "x" * 96 + " (2)")


# --- ChatGPT -------------------------------------------------------------------------------


def _imported(
    repo: ChatRepository, user: UserRecord, ids: list[str]
) -> dict[str, tuple[ConversationRecord, list[MessageRecord]]]:
    found = {}
    for conversation_id in ids:
        conversation = repo.get_conversation(user.id, conversation_id)
        assert conversation is not None
        with repo.db.session() as session:
            rows = session.scalars(
                select(Message.id).where(Message.conversation_id == conversation_id)
            ).all()
        messages = [repo.get_message(row) for row in sorted(rows)]
        found[conversation.title] = (conversation, [m for m in messages if m is not None])
    return found


def _check_chatgpt_import(repo: ChatRepository, ann: UserRecord, report: Any) -> None:
    assert (report.source, report.imported, report.broken) == ("chatgpt", 3, [])
    assert report.folder.name == "ChatGPT import 2026-12-02 12:34"
    found = _imported(repo, ann, report.conversation_ids)
    assert list(found) == ["Python 列表推导式", "Chart from a photo", "Regenerated haiku"]

    # An edited question: two branches under the first answer, the edited one active.
    chat, messages = found["Python 列表推导式"]
    assert len(messages) == 6  # the empty root and the hidden system message left out
    thread = repo.load_thread(chat)
    assert [m.content[:6] for m in thread.messages] == [
        "怎么用列表推",
        "可以这样写：",
        "换成字典推导",
        "`{x: x",
    ]
    assert thread.messages[0].parent_id is None
    edited = thread.messages[2]
    assert [m.content for m in thread.alternatives[edited.id]] == [
        "再举一个例子",
        "换成字典推导式呢？",
    ]
    assert (chat.model, thread.messages[-1].model, thread.messages[1].model) == (
        "gpt-4o-mini",
        "gpt-4o-mini",
        "gpt-4o",
    )
    assert thread.messages[1].finish_reason == "stop"
    assert chat.created_at == datetime.fromtimestamp(1733136000.123456, UTC)
    assert thread.messages[0].created_at == datetime.fromtimestamp(1733136001.623456, UTC)
    assert (chat.folder_id, chat.archived, chat.temporary) == (report.folder.id, False, False)

    # Pictures, code and its output as placeholders and fences; custom instructions hidden.
    chat, messages = found["Chart from a photo"]
    assert chat.archived is True
    assert [(m.role, m.content.splitlines()[0]) for m in repo.load_thread(chat).messages] == [
        (Role.USER, "[image]"),
        (Role.ASSISTANT, "```"),
        (Role.ASSISTANT, "[code execution output]"),
        (Role.ASSISTANT, "The chart shows sales falling in March, then recovering."),
        (Role.USER, "Draw it as a watercolour"),
        (Role.ASSISTANT, "[image]"),
        (Role.ASSISTANT, "Here is the watercolour version."),
    ]
    assert "What does this chart show?" in messages[0].content
    assert "plt.plot([1, 2, 3], [3, 1, 2])" in messages[1].content
    assert all("data analyst" not in m.content for m in messages)

    # A regenerated answer: the owner went back to the first, which stays active.
    chat, messages = found["Regenerated haiku"]
    thread = repo.load_thread(chat)
    assert thread.messages[-1].content.startswith("Crisp leaves")
    siblings = thread.alternatives[thread.messages[-1].id]
    assert [m.status for m in siblings] == [MessageStatus.COMPLETE, MessageStatus.STOPPED]
    assert siblings[1].created_at == thread.messages[0].created_at  # no time: its parent's


def test_chatgpt_export_imports_with_its_branches_and_active_thread(
    repo: ChatRepository, ann: UserRecord, service: TransferService
) -> None:
    report = service.import_file(ann.id, "conversations.json", FIXTURE.read_bytes())
    _check_chatgpt_import(repo, ann, report)


def test_chatgpt_zip_imports_the_same(
    repo: ChatRepository, ann: UserRecord, service: TransferService
) -> None:
    data = zipped(
        {
            "user.json": '{"id": "user-1"}',
            "chat.html": "<html>…</html>",
            "file-Xk2VbM8sQ1.png": b"\x89PNG\r\n\x1a\n" + bytes(200),
            "conversations.json": FIXTURE.read_bytes(),
        }
    )
    report = service.import_file(ann.id, "chatgpt-export.zip", data)
    _check_chatgpt_import(repo, ann, report)


def _chatgpt(number: int) -> dict[str, Any]:
    """A small ChatGPT conversation: empty root, question, answer."""
    root, question, answer = (f"{number}-root", f"{number}-q", f"{number}-a")

    def message(node: str, role: str, text: str) -> dict[str, Any]:
        return {
            "id": node,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": 1733000000.0 + number,
            "content": {"content_type": "text", "parts": [text]},
            "status": "finished_successfully",
            "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
        }

    return {
        "title": f"Conversation {number}",
        "create_time": 1733000000.0 + number,
        "update_time": 1733000000.0 + number + 5,
        "mapping": {
            root: {"id": root, "message": None, "parent": None, "children": [question]},
            question: {
                "id": question,
                "message": message(question, "user", f"问题 {number}"),
                "parent": root,
                "children": [answer],
            },
            answer: {
                "id": answer,
                "message": message(answer, "assistant", f"回答 {number}"),
                "parent": question,
                "children": [],
            },
        },
        "current_node": answer,
    }


def test_one_broken_conversation_among_a_thousand_is_reported_and_the_rest_imported(
    repo: ChatRepository, ann: UserRecord, service: TransferService, database: Database
) -> None:
    conversations: list[Any] = [_chatgpt(number) for number in range(1, 1001)]
    conversations[536]["mapping"] = "oops"
    looped = conversations[699]["mapping"]
    looped["700-root"]["parent"] = "700-a"  # root → question → answer → root
    conversations[899]["mapping"]["900-q"]["message"]["author"]["role"] = "system"
    conversations[899]["mapping"]["900-a"]["message"]["metadata"] = {
        "is_visually_hidden_from_conversation": True
    }
    conversations[949] = "not a conversation"
    report = service.import_file(
        ann.id, "conversations.json", json.dumps(conversations, ensure_ascii=False).encode()
    )
    assert report.imported == 996 and report.messages == 996 * 2
    assert [(b.number, b.title, b.reason.code, dict(b.reason.params)) for b in report.broken] == [
        (537, "Conversation 537", "import_field_invalid", {"field": "mapping"}),
        (700, "Conversation 700", "import_parent_loop", {}),
        (900, "Conversation 900", "import_no_messages", {}),
        (950, None, "import_not_an_object", {}),
    ]
    assert str(report.broken[0].reason) == "Its field “mapping” is missing or not valid."
    assert report.folder is not None
    in_folder = Conversation.folder_id == report.folder.id
    assert count(database, Conversation, in_folder) == 996
    titles = set(_imported(repo, ann, report.conversation_ids[:3]))
    assert titles == {"Conversation 1", "Conversation 2", "Conversation 3"}
    assert count(database, Message) == 996 * 2  # nothing of a broken one was written


def test_when_nothing_can_be_read_nothing_is_written(
    ann: UserRecord, service: TransferService, database: Database
) -> None:
    report = service.import_file(ann.id, "c.json", json.dumps([{"mapping": 5}]).encode())
    assert (report.folder, report.imported, len(report.broken)) == (None, 0, 1)
    assert count(database, Folder) == count(database, Conversation) == 0


def test_a_broken_file_in_our_zip_is_reported_and_the_others_imported(
    repo: ChatRepository, ann: UserRecord, service: TransferService
) -> None:
    chat = simple_conversation(repo, ann, "good one")
    files = {
        "conversations/0001 good one.json": service.export_json_text(ann.id, chat.id),
        "conversations/0002 bad.json": "{not json",
        "conversations/0003 wrong.json": json.dumps(
            {"format": "anychat.conversation", "title": "t"}
        ),
    }
    report = service.import_file(ann.id, "export.zip", zipped(files))
    assert report.imported == 1
    assert [(b.number, b.title, b.reason.code) for b in report.broken] == [
        (2, None, "import_member_not_json"),
        (3, "t", "import_field_invalid"),
    ]
    assert dict(report.broken[0].reason.params) == {"file": "conversations/0002 bad.json"}


@pytest.mark.parametrize(
    ("change", "code", "params"),
    [
        (lambda d: d["messages"][1].update(parent=99), "import_unknown_parent", {"parent": "99"}),
        (lambda d: d["messages"][0].update(parent=2), "import_parent_loop", {}),
        (lambda d: d["messages"][1].update(id=1), "import_duplicate_message", {"id": "1"}),
        (lambda d: d["messages"][1].update(role="wizard"), "import_field_invalid", None),
        (lambda d: d["messages"][1].update(total_tokens="many"), "import_field_invalid", None),
        (lambda d: d["messages"][1].update(model="m" * 201), "import_field_invalid", None),
        (lambda d: d["messages"][1].update(created_at="yesterday"), "import_field_invalid", None),
        (lambda d: d.update(active_leaf=42), "import_field_invalid", {"field": "active_leaf"}),
        (lambda d: d.update(settings=[1]), "import_field_invalid", {"field": "settings"}),
        (lambda d: d.update(version=2), "import_newer_format", {"version": 2}),
    ],
)
def test_a_conversation_of_ours_that_does_not_hold_together_is_reported(
    repo: ChatRepository,
    ann: UserRecord,
    service: TransferService,
    database: Database,
    change: Any,
    code: str,
    params: dict[str, Any] | None,
) -> None:
    chat = simple_conversation(repo, ann, "hand edited")
    document = service.export_json(ann.id, chat.id)
    change(document)
    before = count(database, Message)
    report = service.import_file(ann.id, "edited.json", dump_json(document).encode())
    ((number, title, reason),) = [(b.number, b.title, b.reason) for b in report.broken]
    assert (number, title, reason.code) == (1, "hand edited", code)
    if params is not None:
        assert dict(reason.params) == params
    assert count(database, Message) == before and report.folder is None


def test_text_a_database_would_refuse_is_stored_readably(
    ann: UserRecord, service: TransferService, repo: ChatRepository
) -> None:
    conversation = _chatgpt(1)
    conversation["title"] = "nul\u0000 and \ud800 lone"
    conversation["mapping"]["1-q"]["message"]["content"]["parts"] = ["a\u0000b \udfff c"]
    data = json.dumps([conversation]).encode()  # ASCII escapes, as JSON may spell them
    report = service.import_file(ann.id, "c.json", data)
    ((chat, messages),) = _imported(repo, ann, report.conversation_ids).values()
    assert chat.title == "nul\ufffd and ? lone"
    assert messages[0].content == "a\ufffdb ? c"


# --- files refused whole -------------------------------------------------------------------


def test_bad_files_are_refused_with_a_reason_and_nothing_is_written(
    ann: UserRecord, service: TransferService, database: Database
) -> None:
    cases: list[tuple[bytes, str, dict[str, Any]]] = [
        (b'{"title": "x",\n "messages": [', "import_invalid_json", {"line": 2, "column": 15}),
        (b"\xff\xfe\x00\x01 binary", "import_not_json_or_zip", {}),
        (b'{"hello": "world"}', "import_unknown_format", {}),
        (b"[1, 2, 3]", "import_unknown_format", {}),
        (b"[]", "import_empty", {}),
        (b"[" * 100_000, "import_json_too_deep", {}),
        (b"PK\x03\x04" + bytes(100), "import_bad_zip", {}),
        (zipped({"readme.txt": "hello"}), "import_zip_unknown", {}),
        (zipped({"conversations.json": "{oops"}), "import_invalid_json", {"line": 1}),
    ]
    for data, code, params in cases:
        error = refused(lambda data=data: service.import_file(ann.id, "upload.json", data))
        assert error.code == code, (data[:20], error)
        assert params.items() <= error.params.items()
        assert error.params["name"] in ("upload.json", "conversations.json")
    assert count(database, Folder) == count(database, Conversation) == 0


def test_a_file_over_the_limit_is_refused_before_it_is_read(
    ann: UserRecord, database: Database
) -> None:
    service = _limited(database, 0.01)  # 10 KiB
    data = json.dumps([_chatgpt(n) for n in range(1, 40)]).encode()
    assert len(data) > 10 * 1024
    error = refused(lambda: service.import_file(ann.id, "conversations.json", data))
    assert error.code == "import_too_large"
    assert error.params["limit"] == 0.01 and error.params["size"] > 0.01
    assert str(error).startswith("“conversations.json” is 0.0 MB; files up to 0.01 MB")


def _bomb(megabytes: int) -> bytes:
    """A zip of a few dozen kilobytes that unpacks to `megabytes` of spaces."""
    buffer = io.BytesIO()
    block = b" " * (1024 * 1024)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("conversations.json", "w") as member,
    ):
        for _ in range(megabytes):
            member.write(block)
    return buffer.getvalue()


def _lie_about_sizes(data: bytes, claimed: int) -> bytes:
    """The same zip, its headers claiming each member unpacks to `claimed` bytes."""
    patched = bytearray(data)
    at = 0
    while (at := patched.find(b"PK\x01\x02", at)) != -1:  # central directory entries
        struct.pack_into("<I", patched, at + 24, claimed)
        at += 4
    at = 0
    while (at := patched.find(b"PK\x03\x04", at)) != -1:  # local headers
        struct.pack_into("<I", patched, at + 22, claimed)
        at += 4
    return bytes(patched)


def test_a_zip_bomb_is_refused_without_unpacking_it(ann: UserRecord, database: Database) -> None:
    service = _limited(database, 1)
    bomb = _bomb(64)
    assert len(bomb) < 200 * 1024  # small enough to pass the upload limit many times over
    error = refused(lambda: service.import_file(ann.id, "export.zip", bomb))
    assert error.code == "import_unpacked_too_large" and error.params["limit"] == 1

    # Headers that lie about the size: reading stops at the claim, or at the limit.
    liar = _lie_about_sizes(bomb, 1000)
    error = refused(lambda: service.import_file(ann.id, "export.zip", liar))
    assert error.code in ("import_bad_zip", "import_unpacked_too_large")

    # The reader itself stops at the limit whatever a member's header says.
    read = bounded_reader("export.zip", 1)
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        info = archive.getinfo("conversations.json")
        with pytest.raises(ImportRefused) as caught:
            read(archive, info)
    assert caught.value.code == "import_unpacked_too_large"
    assert count(database, Folder) == count(database, Conversation) == 0


def test_many_members_share_one_unpacked_limit(ann: UserRecord, database: Database) -> None:
    service = _limited(database, 1)
    files = {f"conversations/{n:04d}.json": " " * 300_000 for n in range(5)}
    error = refused(lambda: service.import_file(ann.id, "export.zip", zipped(files)))
    assert error.code == "import_unpacked_too_large"


# --- storage -------------------------------------------------------------------------------


def test_an_import_that_fails_half_way_leaves_nothing_behind(
    ann: UserRecord, database: Database
) -> None:
    transfer = TransferRepository(database)
    good = ImportedConversation(
        title="good",
        model="gpt-4o",
        settings={},
        created_at=NOW,
        updated_at=NOW,
        messages=[
            ImportedMessage(
                key=0, parent_key=None, role="user", content="hi", status="complete", created_at=NOW
            )
        ],
        active_leaf_key=0,
    )
    # Unchecked input: a parent that does not exist fails at the second level of the write.
    bad = replace(
        good,
        messages=[
            *good.messages,
            ImportedMessage(
                key=1,
                parent_key=7,
                role="assistant",
                content="x",
                status="complete",
                created_at=NOW,
            ),
        ],
    )
    with pytest.raises(KeyError):
        transfer.import_conversations(ann.id, "half", [good, bad])
    assert count(database, Folder) == count(database, Conversation) == count(database, Message) == 0


def test_trees_are_read_for_many_conversations_at_once(
    repo: ChatRepository, ann: UserRecord, bob: UserRecord, database: Database
) -> None:
    for number in range(5):
        simple_conversation(repo, ann, f"chat {number}")
    simple_conversation(repo, ann, "hidden", temporary=True)
    simple_conversation(repo, bob, "bob's")
    transfer = TransferRepository(database)
    trees = list(transfer.conversation_trees(ann.id))
    assert [t.conversation.title for t in trees] == [f"chat {n}" for n in range(5)]
    assert all(len(t.messages) == 2 for t in trees)
    assert all(m.conversation_id == t.conversation.id for t in trees for m in t.messages)


# --- every refusal is a template with its code (as tests/test_errors.py checks the tree) ---


def _refusals() -> Iterator[tuple[str, ast.Call]]:
    """Every ImportRefused(...) made, raised there or returned to be raised."""
    for path in (ROOT / "chatcore" / "chat").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "ImportRefused"
            ):
                yield f"{path.name}:{node.lineno}", node


def test_each_refusal_names_its_code_and_every_value_it_shows() -> None:
    found = list(_refusals())
    assert len(found) >= 9
    codes: dict[str, str] = {}
    for where, call in found:
        keywords = {k.arg: k.value for k in call.keywords}
        code = keywords.pop("code")
        assert isinstance(code, ast.Constant), where
        (template,) = call.args
        assert isinstance(template, ast.Call) and ast.unparse(template.func) == "N_", where
        text = template.args[0].value  # type: ignore[attr-defined]
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        assert fields <= set(keywords), where
        assert codes.setdefault(code.value, text) == text, f"{where}: one code, one sentence"


# --- the Account page ----------------------------------------------------------------------


@pytest.fixture
def account_page(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[AppTest]:
    """The app in AppTest, on the Account page, signed in as a member (as tests/test_team_pages
    does: AppTest sends no cookies, so the account is supplied)."""
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-transfer-pages")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'pages.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "local")
    services = shared_services(load_settings())
    member = services.infra.users.create_user("mei")
    monkeypatch.setattr(ui.auth, "_resolve", lambda _services: member)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=20).run()
    at.switch_page("pages/account.py")
    yield at
    st.cache_resource.clear()
    close_shared_services()


def test_the_account_page_reports_what_an_import_left_out(account_page: AppTest) -> None:
    title = "*bold* [link](https://example.test)"
    report = ImportReport(
        "chatgpt",
        FolderRecord(1, 1, "ChatGPT import 2026-12-02 12:34", None, NOW),
        conversation_ids=["a" * 32, "b" * 32],
        messages=4,
        broken=[
            BrokenConversation(
                537, title, Sentence("import_field_invalid", FIELD_INVALID, {"field": "mapping"})
            ),
            BrokenConversation(950, None, Sentence("import_not_an_object", NOT_AN_OBJECT)),
        ],
    )
    account_page.session_state["transfer_report"] = report
    at = account_page.run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [
        f"Imported 2 conversations into the folder “{plain('ChatGPT import 2026-12-02 12:34')}”."
    ]
    assert [w.value for w in at.warning] == ["2 conversations could not be imported:"]
    listed = next(m.value for m in at.markdown if "No. 950" in m.value)
    assert listed == (
        f"- No. 537, “{plain(title)}”: Its field “mapping” is missing or not valid.\n"
        "- No. 950: It is not a JSON object."
    )
    assert any(b.label == "Import" and b.disabled for b in at.button)  # no file chosen yet
    again = at.run()  # the report is said once
    assert not again.success and not again.warning
