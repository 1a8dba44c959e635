"""Use cases the pages call: send, regenerate, edit, switch branch, answer tools, stop, open.

No Streamlit here, so tests call them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from chatcore.chat.generation import GenerationJob
from chatcore.chat.params import GenerationParams, mentions_json
from chatcore.chat.thread import api_messages, pending_calls, title_from
from chatcore.chat.worker import GenerationWorker
from chatcore.config import Settings
from chatcore.server_secret import pseudonym
from chatcore.tools.builtin import BUILTIN_TOOLS, run_builtin
from storage import (
    ChatRepository,
    ConversationRecord,
    MessageRecord,
    Role,
    Thread,
)

RESTART_NOTE = (
    "The server restarted while this reply was being written; the part that arrived is kept."
)
JSON_MODE_WARNING = (
    "JSON mode is on, but neither the system prompt nor any message mentions JSON. The API "
    "requires that: without it the model may emit whitespace until it reaches max_tokens. "
    "Add an instruction such as “Reply in JSON.”, or send anyway."
)


_ADMIT = object()  # _start_reply's "ask the policy" marker, when the caller has not already


class ChatInputError(ValueError):
    """Something the user can fix before sending; nothing was saved or sent."""


class JsonModeUnmentioned(ChatInputError):
    """JSON mode without the word JSON anywhere: sent only once the user confirms."""


class RequestPolicy(Protocol):
    """Decides, before anything is saved or sent, whether a teammate may send now, and with
    which key: their personal one, or None for the team's."""

    def admit(self, user_id: int) -> str | None: ...


class TeamKeyPolicy:
    """Everyone may send, with the team's key (single-user and test setups)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def admit(self, user_id: int) -> str | None:
        if not self._settings.has_api_key:
            raise ChatInputError("No API key is configured, so nothing can be sent.")
        return None


class ConversationNotFound(LookupError):
    """Missing, deleted, or someone else's: deliberately indistinguishable."""


@dataclass(frozen=True, slots=True)
class ConversationView:
    conversation: ConversationRecord
    thread: list[MessageRecord]
    # For each message on the thread that has siblings: all of them, oldest first.
    alternatives: dict[int, list[MessageRecord]] = field(default_factory=dict)


class ChatService:
    def __init__(
        self,
        settings: Settings,
        repository: ChatRepository,
        worker: GenerationWorker,
        secret: bytes,
        policy: RequestPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.worker = worker
        self._secret = secret
        self.policy = policy or TeamKeyPolicy(settings)

    def open(self, user_id: int, conversation_id: str) -> ConversationView:
        conversation = self._conversation(user_id, conversation_id)
        thread = self.repository.load_thread(conversation)
        return ConversationView(conversation, thread.messages, thread.alternatives)

    def check_message(self, text: str) -> str:
        if not text.strip():
            raise ChatInputError("The message is empty.")
        if len(text) > self.settings.max_message_chars:
            raise ChatInputError(
                f"The message has {len(text):,} characters; the limit is "
                f"{self.settings.max_message_chars:,}. Shorten it or split it."
            )
        return text

    def send(
        self,
        user_id: int,
        conversation_id: str | None,
        text: str,
        params: GenerationParams,
        *,
        confirmed_json: bool = False,
    ) -> ConversationView:
        """Save the user's message first, then start the reply in the background."""
        self._check_ready(text, params)
        conversation = (
            self._conversation(user_id, conversation_id) if conversation_id is not None else None
        )
        api_key = self.policy.admit(user_id)  # before a new conversation row is created
        loaded = self.repository.load_thread(conversation) if conversation else Thread([], {})
        thread = loaded.messages
        if params.json_mode and not confirmed_json:
            texts = [params.system_prompt, text, *(m.content for m in thread)]
            if not mentions_json(texts):
                raise JsonModeUnmentioned(JSON_MODE_WARNING)
        if conversation is None:
            conversation = self.repository.create_conversation(
                user_id, title_from(text), params.model, params.to_settings()
            )
        return self._start_reply(
            user_id, conversation, thread, params, text, appended_to=loaded, api_key=api_key
        )

    def regenerate(
        self, user_id: int, reply_id: int, params: GenerationParams | None = None
    ) -> ConversationView:
        """Answer the same question again: a new alternative beside the earlier reply (or, after
        a failure, a retry; the failed reply stays stored as a sibling).

        With `params`, the page's current settings apply (raise the temperature, regenerate);
        without, the conversation's stored ones.
        """
        reply, conversation = self._message(user_id, reply_id)
        if reply.role != Role.ASSISTANT or reply.parent_id is None:
            raise ConversationNotFound(str(reply_id))
        if params is None:
            params = GenerationParams.from_settings(conversation.settings, conversation.model)
        params.validate()
        thread = self._thread_until(conversation, reply.parent_id)
        return self._start_reply(user_id, conversation, thread, params)

    retry = regenerate

    def edit(
        self, user_id: int, message_id: int, text: str, params: GenerationParams
    ) -> ConversationView:
        """Send an edited question as a new branch; the original and its replies stay."""
        original, conversation = self._message(user_id, message_id)
        if original.role != Role.USER:
            raise ConversationNotFound(str(message_id))
        self._check_ready(text, params)
        thread = self._thread_until(conversation, original.parent_id) if original.parent_id else []
        return self._start_reply(user_id, conversation, thread, params, text)

    def switch_branch(self, user_id: int, message_id: int) -> bool:
        """Show another alternative (a choice, an earlier reply, the unedited question)."""
        return self.repository.select_branch(user_id, message_id) is not None

    def submit_tool_result(
        self, user_id: int, conversation_id: str, call_id: str, result: str
    ) -> ConversationView:
        """Store one call's result; once every call has one, the model continues."""
        conversation = self._conversation(user_id, conversation_id)
        thread = self.repository.thread(conversation)
        pending = pending_calls(thread)
        if pending is None or call_id not in {call.get("id") for call in pending.calls}:
            raise ChatInputError("That tool call has already been answered.")
        if len(result) > self.settings.max_message_chars:
            raise ChatInputError(
                f"The result has {len(result):,} characters; the limit is "
                f"{self.settings.max_message_chars:,}."
            )
        answer = self.repository.add_message(
            conversation.id, Role.TOOL, result, parent_id=thread[-1].id, tool_call_id=call_id
        )
        thread = [*thread, answer]
        conversation = replace(conversation, active_leaf_id=answer.id)
        if len(pending.calls) > 1:
            return ConversationView(conversation, thread)
        params = GenerationParams.from_settings(conversation.settings, conversation.model)
        return self._start_reply(user_id, conversation, thread, params)

    def run_builtin_tool(
        self, user_id: int, conversation_id: str, call_id: str
    ) -> ConversationView:
        """Run a built-in tool the model called (they are pure: no code, files or network)."""
        conversation = self._conversation(user_id, conversation_id)
        pending = pending_calls(self.repository.thread(conversation))
        call = next((c for c in pending.calls if c.get("id") == call_id), None) if pending else None
        if call is None:
            raise ChatInputError("That tool call has already been answered.")
        name = call.get("function", {}).get("name", "")
        if name not in BUILTIN_TOOLS:
            raise ChatInputError(f"{name!r} is not a built-in tool; enter its result yourself.")
        result = run_builtin(name, call.get("function", {}).get("arguments", ""))
        return self.submit_tool_result(user_id, conversation_id, call_id, result)

    def stop(self, message_id: int) -> bool:
        return self.worker.cancel(message_id)

    def request_user(self, user_id: int) -> str:
        return pseudonym(self._secret, user_id)

    def _check_ready(self, text: str, params: GenerationParams) -> None:
        self.check_message(text)
        params.validate()

    def _conversation(self, user_id: int, conversation_id: str) -> ConversationRecord:
        conversation = self.repository.get_conversation(user_id, conversation_id)
        if conversation is None:
            raise ConversationNotFound(conversation_id)
        return conversation

    def _message(self, user_id: int, message_id: int) -> tuple[MessageRecord, ConversationRecord]:
        message = self.repository.get_message(message_id)
        conversation = (
            self.repository.get_conversation(user_id, message.conversation_id) if message else None
        )
        if message is None or conversation is None:
            raise ConversationNotFound(str(message_id))
        return message, conversation

    def _thread_until(
        self, conversation: ConversationRecord, message_id: int
    ) -> list[MessageRecord]:
        return self.repository.thread(replace(conversation, active_leaf_id=message_id))

    def _start_reply(
        self,
        user_id: int,
        conversation: ConversationRecord,
        thread: list[MessageRecord],
        params: GenerationParams,
        user_text: str | None = None,
        *,
        appended_to: Thread | None = None,
        api_key: str | object | None = _ADMIT,
    ) -> ConversationView:
        """Admit the request, save the user's message (if new) and the empty replies together,
        then generate.

        `appended_to` is the loaded thread when the turn simply extends it: the view is then
        built from it instead of read back, which would compete for the interpreter with the
        request just started (tens of ms in a 500-message conversation).
        """
        if api_key is _ADMIT:  # over quota or no key: nothing saved or sent
            api_key = self.policy.admit(user_id)
        messages = api_messages(thread, params.system_prompt)
        if user_text is not None:
            messages.append({"role": Role.USER.value, "content": user_text})
        fields = params.request_fields()
        added = self.repository.start_reply(
            conversation.id,
            parent_id=thread[-1].id if thread else None,
            user_text=user_text,
            model=params.model,
            request_params={**fields, "stream": params.stream},
            settings=params.to_settings(),
            choices=params.choices,
        )
        replies = [message for message in added if message.role == Role.ASSISTANT]
        request: dict[str, Any] = {
            "model": params.model,
            "messages": messages,
            **fields,
            "user": self.request_user(user_id),
        }
        job = GenerationJob(
            tuple(reply.id for reply in replies),
            conversation.id,
            request,
            params.stream,
            api_key=api_key if isinstance(api_key, str) else None,
        )
        self.worker.submit(job)
        opened = replace(
            conversation,
            model=params.model,
            settings=params.to_settings(),
            active_leaf_id=replies[0].id,
        )
        if appended_to is not None:
            alternatives = dict(appended_to.alternatives)
            if len(replies) > 1:
                alternatives[replies[0].id] = replies
            questions = [message for message in added if message.role == Role.USER]
            return ConversationView(opened, [*thread, *questions, replies[0]], alternatives)
        # A new branch: its siblings are not in `thread`, so read the tree back.
        loaded = self.repository.load_thread(opened)
        return ConversationView(opened, loaded.messages, loaded.alternatives)
