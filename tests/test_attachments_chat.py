"""Files in the conversation, end to end against the fake server: the exact request parts for an
image, a text file and a PDF; files after reload, regenerate and edit; who may read them; the
limits; a model that cannot see; a context that is trimmed to fit, and voice input."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import pytest
from PIL import Image

from chatcore.attachments import IncomingFile
from chatcore.chat.params import GenerationParams
from chatcore.chat.upstream_errors import reply_error_of
from chatcore.chat.use_cases import ConversationView
from chatcore.config import Settings
from chatcore.errors import (
    ChatInputError,
    ConversationNotFound,
    ImagesUnsupported,
)
from chatcore.wiring import Services, build_services
from storage import AttachmentKind, MessageRecord, MessageStatus, UserRecord
from tests.support.documents import minimal_pdf
from tests.support.fake_openai import Behavior, FakeOpenAI

PARAMS = GenerationParams(model="gpt-4o")


def png(width: int = 40, height: int = 30, color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def send(
    services: Services,
    text: str,
    files: list[IncomingFile] | None = None,
    *,
    params: GenerationParams = PARAMS,
    conversation: str | None = None,
    user: UserRecord | None = None,
) -> ConversationView:
    user_id = (user or services.local_user).id
    return services.chat.send(user_id, conversation, text, params, files=files or [])


def finished(services: Services, view: ConversationView) -> MessageRecord:
    assert services.infra.worker.wait_idle(10), "reply did not finish"
    found = services.infra.chats.get_message(view.thread[-1].id)
    assert found is not None
    return found


def last_question(fake: FakeOpenAI) -> object:
    return fake.chat_requests()[-1].body["messages"][-1]["content"]


def test_an_image_text_file_and_pdf_are_sent_as_parts(
    services: Services, fake_api: FakeOpenAI
) -> None:
    image = png()
    files = [
        IncomingFile("notes.md", b"# Plan\nship it", "text/markdown"),
        IncomingFile("report.pdf", minimal_pdf("Quarterly numbers"), "application/pdf"),
        IncomingFile("photo.png", image, "image/png"),
    ]
    finished(services, send(services, "What do these say?", files))
    content = last_question(fake_api)
    assert isinstance(content, list)
    assert content[0] == {"type": "text", "text": "What do these say?"}
    assert content[1]["type"] == "text" and "notes.md" in content[1]["text"]
    assert "# Plan\nship it" in content[1]["text"]
    assert content[2]["type"] == "text" and "report.pdf" in content[2]["text"]
    assert "Quarterly numbers" in content[2]["text"]
    assert content[3]["type"] == "image_url"
    url = content[3]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.size == (40, 30)
    assert len(content) == 4


def test_a_plain_message_is_sent_as_a_string(services: Services, fake_api: FakeOpenAI) -> None:
    finished(services, send(services, "just words"))
    assert last_question(fake_api) == "just words"


def test_files_stay_after_reload_regenerate_and_edit(
    services: Services, fake_api: FakeOpenAI
) -> None:
    user_id = services.local_user.id
    view = send(services, "Describe", [IncomingFile("a.png", png(), "image/png")])
    reply = finished(services, view)
    conversation = view.conversation.id

    opened = services.chat.open(user_id, conversation)
    question = opened.thread[0]
    assert [a.name for a in question.attachments] == ["a.png"]
    assert question.attachments[0].kind == AttachmentKind.IMAGE

    finished(services, services.chat.regenerate(user_id, reply.id))
    assert last_question(fake_api)[1]["type"] == "image_url"  # type: ignore[index]

    edited = services.chat.edit(user_id, question.id, "Describe it in one word", PARAMS)
    finished(services, edited)
    content = last_question(fake_api)
    assert content[0] == {"type": "text", "text": "Describe it in one word"}  # type: ignore[index]
    assert content[1]["type"] == "image_url"  # type: ignore[index]
    new_question = services.chat.open(user_id, conversation).thread[0]
    assert new_question.id != question.id
    assert [a.name for a in new_question.attachments] == ["a.png"]


def test_a_picture_may_be_sent_without_words(services: Services, fake_api: FakeOpenAI) -> None:
    view = send(services, "", [IncomingFile("only.png", png(), "image/png")])
    finished(services, view)
    assert view.conversation.title == "only.png"
    assert [part["type"] for part in last_question(fake_api)] == ["image_url"]  # type: ignore[union-attr]


def test_only_the_owner_and_a_live_share_can_read_a_file(
    services: Services, fake_api: FakeOpenAI
) -> None:
    owner = services.local_user.id
    bob = services.infra.users.create_user("bob")
    view = send(services, "mine", [IncomingFile("secret.txt", b"top secret", "text/plain")])
    finished(services, view)
    attachment = services.chat.open(owner, view.conversation.id).thread[0].attachments[0]

    found = services.chat.attachment(owner, attachment.id)
    assert found is not None and found[1] == b"top secret"
    assert services.chat.attachment(bob.id, attachment.id) is None

    share = services.sharing.create(owner, view.conversation.id)
    shared = services.sharing.attachment(bob.id, share.token, attachment.id)
    assert shared is not None and shared[1] == b"top secret"
    services.sharing.revoke(owner, services.sharing.active(owner, view.conversation.id)[0].id)
    with pytest.raises(ConversationNotFound):
        services.sharing.attachment(bob.id, share.token, attachment.id)


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ([IncomingFile(f"{n}.txt", b"x", "text/plain") for n in range(6)], "too_many"),
        ([IncomingFile("big.txt", b"x" * (2 * 1024 * 1024), "text/plain")], "too_large"),
        ([IncomingFile("tool.exe", b"MZ\x90\x00\x03", "application/octet-stream")], "unsupported"),
        ([IncomingFile("broken.pdf", b"%PDF-1.4 not really", "application/pdf")], "pdf"),
    ],
)
def test_a_refused_file_saves_and_sends_nothing(
    settings: Settings, fake_api: FakeOpenAI, files: list[IncomingFile], code: str
) -> None:
    limited = build_services(replace(settings, attach_max_file_mb=1.0), prefetch_models=False)
    try:
        with pytest.raises(ChatInputError) as refused:
            send(limited, "look", files)
        assert code in refused.value.code
        assert limited.chat.list_conversations(limited.local_user.id).items == []
        assert fake_api.chat_requests() == []
    finally:
        limited.close()


def test_images_for_a_text_only_model_are_asked_about_first(
    services: Services, fake_api: FakeOpenAI
) -> None:
    text_only = GenerationParams(model="deepseek-chat")
    files = [IncomingFile("a.png", png(), "image/png")]
    with pytest.raises(ImagesUnsupported):
        send(services, "see?", files, params=text_only)
    assert fake_api.chat_requests() == []
    view = services.chat.send(
        services.local_user.id, None, "see?", text_only, files=files, confirmed_images=True
    )
    finished(services, view)
    assert len(fake_api.chat_requests()) == 1


def test_an_upstream_refusing_images_is_explained(services: Services, fake_api: FakeOpenAI) -> None:
    fake_api.enqueue(
        Behavior(status=400, error_message="image_url is only supported by certain models.")
    )
    reply = finished(services, send(services, "see?", [IncomingFile("a.png", png(), "image/png")]))
    assert reply.status == MessageStatus.ERROR
    error = reply_error_of(reply)
    assert error is not None and error.code == "image_refused_detail"
    assert "may not accept images" in error.message


def test_a_long_thread_is_trimmed_to_fit_and_marked(
    services: Services, fake_api: FakeOpenAI
) -> None:
    admin = services.local_user
    services.model_settings.set_context_overrides(admin, "gpt-4o = 1200")
    fake_api.max_prompt_chars = 5600  # under 8 questions: an untrimmed request is refused
    conversation = None
    sent_ids: list[int] = []
    for turn in range(8):
        fake_api.enqueue(Behavior(text="ok"))
        view = send(services, f"question {turn}: " + "lorem ipsum " * 60, conversation=conversation)
        conversation = view.conversation.id
        reply = finished(services, view)
        assert reply.status == MessageStatus.COMPLETE, reply.error
        sent_ids.append(view.thread[-2].id)
    body = fake_api.chat_requests()[-1].body
    texts = [m["content"] for m in body["messages"]]
    assert texts[-1].startswith("question 7:")
    assert not any(str(text).startswith("question 0:") for text in texts)
    first_sent = next(m for m in body["messages"] if m["role"] == "user")["content"]
    number = int(str(first_sent).split(":")[0].removeprefix("question "))
    assert reply.context_start_id == sent_ids[number]
    assert all("_source_id" not in m for m in body["messages"])


def test_a_question_too_long_for_the_model_is_refused_before_saving(
    services: Services, fake_api: FakeOpenAI
) -> None:
    services.model_settings.set_context_overrides(services.local_user, "gpt-4o = 1100")
    with pytest.raises(ChatInputError) as refused:
        send(services, "word " * 2000)
    assert refused.value.code == "context_overflow"
    assert services.chat.list_conversations(services.local_user.id).items == []
    assert fake_api.chat_requests() == []


def test_a_recording_becomes_text(services: Services, fake_api: FakeOpenAI) -> None:
    fake_api.transcript = "你好，世界"
    assert services.voice.offered()
    words = services.voice.transcribe(services.local_user.id, b"RIFF....WAVE", "a.wav", "audio/wav")
    assert words == "你好，世界"


def test_a_server_without_transcriptions_hides_the_microphone(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.transcribes = False
    with pytest.raises(ChatInputError) as refused:
        services.voice.transcribe(services.local_user.id, b"RIFF....WAVE", "a.wav", "audio/wav")
    assert refused.value.code == "transcription_unavailable"
    assert not services.voice.offered()


def test_the_microphone_can_be_turned_off(settings: Settings) -> None:
    quiet = build_services(replace(settings, transcription_model="off"), prefetch_models=False)
    try:
        assert not quiet.voice.offered()
    finally:
        quiet.close()


def test_files_are_exported_and_an_export_reimports_identically(
    services: Services, fake_api: FakeOpenAI
) -> None:
    owner = services.local_user.id
    files = [
        IncomingFile("photo.png", png(), "image/png"),
        IncomingFile("notes.txt", "第一行\nsecond".encode(), "text/plain"),
    ]
    view = send(services, "keep these", files)
    finished(services, view)
    first = services.transfer.export_json(owner, view.conversation.id)
    question = first["messages"][0]
    assert [item["name"] for item in question["attachments"]] == ["photo.png", "notes.txt"]
    assert base64.b64decode(question["attachments"][1]["data"]) == "第一行\nsecond".encode()
    assert question["attachments"][1]["text"] == "第一行\nsecond"
    # The visible thread in the API's form carries the image itself, not our placeholder.
    parts = first["openai_messages"][0]["content"]
    assert parts[-1]["image_url"]["url"].startswith("data:image/png;base64,")

    data = services.transfer.export_json_text(owner, view.conversation.id).encode()
    report = services.transfer.import_file(owner, "again.json", data)
    (copy_id,) = report.conversation_ids
    second = services.transfer.export_json(owner, copy_id)
    for document in (first, second):
        for key in ("id", "exported_at"):
            document.pop(key)
    assert second == first
    copied = services.chat.open(owner, copy_id).thread[0].attachments
    assert [item.name for item in copied] == ["photo.png", "notes.txt"]
    found = services.chat.attachment(owner, copied[0].id)
    assert found is not None and found[1] == base64.b64decode(question["attachments"][0]["data"])
    # The Markdown export names the files.
    markdown = services.transfer.export_markdown(owner, view.conversation.id)
    assert "photo.png" in markdown and "notes.txt" in markdown


def test_the_probe_finds_a_server_without_transcriptions_before_any_recording(
    services: Services, fake_api: FakeOpenAI
) -> None:
    services.voice.probe()
    assert services.voice.offered()
    probe = [r for r in fake_api.requests if r.path.endswith("/audio/transcriptions")]
    assert probe and probe[-1].body == {"bytes": 2, "model_field": False}  # "{}": no audio
    fake_api.transcribes = False
    services.voice.probe()
    assert not services.voice.offered()
