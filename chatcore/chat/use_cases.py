"""Use cases the pages call: send, regenerate, edit, switch branch, answer tools, stop, open.

No Streamlit here, so tests call them directly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from chatcore.attachments import (
    AttachmentLimits,
    IncomingFile,
    prepare_attachments,
    user_content,
)
from chatcore.chat.catalog import ModelList
from chatcore.chat.client import NO_TEAM_KEY
from chatcore.chat.compare import compared_model, compared_models
from chatcore.chat.generation import GenerationJob
from chatcore.chat.outgoing import OutgoingRequests
from chatcore.chat.params import GenerationParams, mentions_json
from chatcore.chat.presence import ProcessPresence
from chatcore.chat.relay import Following, Relay
from chatcore.chat.thread import SOURCE_ID, api_messages, pending_calls, title_from
from chatcore.chat.worker import GenerationWorker
from chatcore.config import Settings
from chatcore.context import sees_images
from chatcore.errors import (
    ChatInputError,
    ConversationNotFound,
    ImagesUnsupported,
    JsonModeUnmentioned,
    MissingApiKey,
)
from chatcore.i18n import N_
from chatcore.server_secret import pseudonym
from chatcore.team.model_access import ModelAccess
from chatcore.tools.builtin import BUILTIN_TOOLS, run_builtin
from storage import (
    AttachmentKind,
    AttachmentRecord,
    ChatRepository,
    ConversationPage,
    ConversationRecord,
    MessageRecord,
    MessageStatus,
    NewAttachment,
    ReplyOutcome,
    Role,
)
from storage.usage import Gate

JSON_MODE_WARNING = N_(
    "JSON mode is on, but neither the system prompt nor any message mentions JSON. The API "
    "requires that: without it the model may emit whitespace until it reaches max_tokens. "
    "Add an instruction such as “Reply in JSON.”, or send anyway."
)
CONVERSATION_GONE = N_("That conversation no longer exists.")
# A view returned after a send, regenerate or edit holds the thread's last messages only, as
# many as the page draws: a long conversation is never read whole for the page's sake.
VIEW_TAIL = 20
KNOWN_OWNERS_KEPT = 4096  # replies whose owner is remembered: under 1 MB when full
TOOL_CALL_ANSWERED = N_("That tool call has already been answered.")
IMAGES_UNSEEN_WARNING = N_(
    "{model} may not be able to see images: the model list describes it as text only. "
    "Choose a model that can see images, or send anyway."
)


class RequestPolicy(Protocol):
    """Decides, before anything is saved or sent, whether a teammate may send now, and with
    which key: their personal one, or None for the team's."""

    def admit(self, user_id: int) -> str | None: ...

    def gate(self) -> Gate | None:
        """`admit` decided inside the transaction that writes a send (no read before it), or
        None when the policy reads nothing from the database: then `admit` comes first."""
        ...


class TeamKeyPolicy:
    """Everyone may send, with the team's key (single-user and test setups)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def admit(self, user_id: int) -> str | None:
        if not self._settings.has_api_key:
            raise MissingApiKey(NO_TEAM_KEY, code="api_key_not_configured")
        return None

    def gate(self) -> Gate | None:
        return None


@dataclass(frozen=True, slots=True)
class ConversationView:
    conversation: ConversationRecord
    thread: list[MessageRecord]
    # For each message on the thread that has siblings: all of them, oldest first.
    alternatives: dict[int, list[MessageRecord]] = field(default_factory=dict)
    # Messages of the visible thread before `thread`, and after it (when it ends around a
    # message landed on rather than at the newest one).
    hidden: int = 0
    later: int = 0


class ChatService:
    def __init__(
        self,
        settings: Settings,
        repository: ChatRepository,
        worker: GenerationWorker,
        secret: bytes,
        policy: RequestPolicy | None = None,
        models_offered: Callable[[], ModelList] | None = None,
        *,
        presence: ProcessPresence | None = None,
        relay: Relay | None = None,
        outgoing: OutgoingRequests | None = None,
        model_access: ModelAccess | None = None,
    ) -> None:
        """`models_offered` is the catalogue's current list (never waiting on a fetch); without
        it any model id is accepted, as with a list that failed to load. `presence` is this
        process among those sharing the database, and `relay` (PostgreSQL) carries replies
        and Stops between them. `outgoing` checks a new question fits the model's context
        before anything is saved; without it nothing is checked. `model_access` holds the
        administrators' allowlists; without it every model is allowed."""
        self._model_access = model_access
        self.settings = settings
        self._outgoing = outgoing
        self._limits = AttachmentLimits.from_settings(settings)
        self.repository = repository
        self.worker = worker
        self._secret = secret
        self.policy = policy or TeamKeyPolicy(settings)
        self._models_offered = models_offered
        self._presence = presence
        self._relay = relay
        # (user id, message id) of replies being written here that the person was found to
        # own: a reply's conversation and its owner never change, and a page following one
        # asks again at every slice (ui/chat_page.py, about 3 times a second).
        self._owners_lock = threading.Lock()
        self._known_owners: OrderedDict[tuple[int, int], None] = OrderedDict()

    def open(
        self,
        user_id: int,
        conversation_id: str,
        *,
        recent: int | None = None,
        through: int | None = None,
        above: int = 1,
    ) -> ConversationView:
        """The conversation and its visible thread: all of it, or its `recent` last messages
        (the view's `hidden` counts the others). `through` is a message on the thread to draw
        too, with `above` messages before it: a message landed on (storage/threads.py)."""
        conversation = self._conversation(user_id, conversation_id)
        thread = self.repository.load_thread(
            conversation, tail=recent, through=through, above=above
        )
        return ConversationView(
            conversation,
            thread.messages,
            thread.alternatives,
            hidden=thread.hidden,
            later=thread.later,
        )

    def land(
        self, user_id: int, conversation_id: str, message_id: int, *, recent: int
    ) -> ConversationView:
        """Open a conversation at one of its messages (a search result's link), on the branch
        through it: switched to, like `switch_branch`, when it is not on the visible one.

        A message of another conversation, or of another person's, switches nothing: the
        conversation opens as it is."""
        view = self.open(user_id, conversation_id, recent=recent, through=message_id)
        if any(message.id == message_id for message in view.thread):
            return view
        message = self.repository.get_message(message_id)
        if message is None or message.conversation_id != view.conversation.id:
            return view
        if self.repository.select_branch(user_id, message_id) is None:
            return view
        return self.open(user_id, conversation_id, recent=recent, through=message_id)

    def check_message(self, text: str, *, with_files: bool = False) -> str:
        """A message may be empty only when it carries files (a picture sent on its own)."""
        if not text.strip() and not with_files:
            raise ChatInputError(N_("The message is empty."), code="message_empty")
        limit = self.settings.max_message_chars
        if len(text) > limit:
            raise ChatInputError(
                N_(
                    "The message has {length:,} characters; the limit is {limit:,}. "
                    "Shorten it or split it."
                ),
                code="message_too_long",
                length=len(text),
                limit=limit,
            )
        return text

    def admit(
        self, user_id: int, params: GenerationParams, *, also: Sequence[str] = ()
    ) -> str | None:
        """The one gate before anything is saved or sent, for every way of sending (send, edit,
        regenerate, a tool result, the model continuing after the results): the settings are
        valid, the catalogue offers the model (and the models it is compared with, `also`),
        the team allows each to this teammate, and the policy lets this teammate send now
        (account enabled, quota left, a key). Returns the key to send with: their personal
        one, or None for the team's.

        Here and not in the pages, so no page can forget a check and every page refuses alike.
        """
        self._check_models(user_id, params, also)
        return self.policy.admit(user_id)

    def _check_models(self, user_id: int, params: GenerationParams, also: Sequence[str]) -> None:
        """`admit` but for the policy: the settings, the catalogue and the team's allowlists."""
        params.validate()
        for model in (params.model, *also):
            if self._models_offered is not None:
                self._models_offered().check(model)
            if self._model_access is not None:
                self._model_access.check_user_id(user_id, model)

    def send(
        self,
        user_id: int,
        conversation_id: str | None,
        text: str,
        params: GenerationParams,
        *,
        confirmed_json: bool = False,
        confirmed_images: bool = False,
        folder_id: int | None = None,
        temporary: bool = False,
        files: Sequence[IncomingFile] = (),
        compare_with: Sequence[str] = (),
    ) -> ConversationView:
        """Save the user's message and its files first, then start the reply in the background.

        `folder_id` and `temporary` shape a new conversation only (the first message): filed
        in that folder, or a temporary chat that is never listed and ends when left. Files are
        checked, scaled and read here (chatcore/attachments): a refusal names the file, and
        nothing is saved. A question that cannot fit the model's context is refused too.

        `compare_with` adds up to three models: the question goes to each at once, one
        request per model with everything but the model equal (chatcore/chat/compare.py).
        Each reply is one column, so `n` is not sent."""
        self.check_message(text, with_files=bool(files))
        # Before anything of the turn is read or written. In a conversation that exists, the
        # policy's part is decided in the transaction that writes the question (one checkout
        # and commit, not two); it still refuses before anything is kept.
        gate = self.policy.gate() if conversation_id is not None else None
        params, models = self._compared_params(params, compare_with)
        self._check_models(user_id, params, models[1:])
        api_key = self.policy.admit(user_id) if gate is None else None
        attachments = prepare_attachments(files, self._limits) if files else []
        if params.json_mode and not confirmed_json:
            known = self._conversation(user_id, conversation_id) if conversation_id else None
            self._require_json_mention(known, params, text)
        if not confirmed_images:
            self._require_seeing_models(models, attachments)
        drafts = [_draft(n, item) for n, item in enumerate(attachments)]
        self._check_fits(params, models, text, drafts)
        if conversation_id is None:
            conversation_id = self.repository.create_conversation(
                user_id,
                title_from(text or attachments[0].name),
                params.model,
                params.to_settings(),
                folder_id=folder_id,
                temporary=temporary,
            ).id
        return self._continue_thread(
            user_id,
            conversation_id,
            params,
            text,
            api_key=api_key,
            attachments=attachments,
            compared=models if len(models) > 1 else (),
            gate=gate,
        )

    def _require_seeing_models(
        self, models: Sequence[str], attachments: Sequence[NewAttachment]
    ) -> None:
        """Images for a model the model list calls text only: asked, not refused (the list may
        be wrong, and the upstream's answer is explained if it refuses)."""
        if not any(item.kind == AttachmentKind.IMAGE for item in attachments):
            return
        for model in models:
            if sees_images(model) is False:
                raise ImagesUnsupported(IMAGES_UNSEEN_WARNING, model=model)

    def _admit_models(
        self, user_id: int, params: GenerationParams, compare_with: Sequence[str]
    ) -> tuple[GenerationParams, tuple[str, ...], str | None]:
        """`admit` for a send or an edit that may compare: the parameters to send (no `n`
        when comparing, each model being one column), the models, and the key."""
        params, models = self._compared_params(params, compare_with)
        return params, models, self.admit(user_id, params, also=models[1:])

    @staticmethod
    def _compared_params(
        params: GenerationParams, compare_with: Sequence[str]
    ) -> tuple[GenerationParams, tuple[str, ...]]:
        models = compared_models(params.model, compare_with)
        return (replace(params, n=None) if len(models) > 1 else params), models

    def _check_fits(
        self,
        params: GenerationParams,
        models: Sequence[str],
        text: str,
        files: Sequence[AttachmentRecord],
    ) -> None:
        """The system prompt, the question and its files, with the reply's room kept, must fit
        each model's context: older messages can be left out later, these cannot."""
        if self._outgoing is None:
            return
        messages = api_messages([], params.system_prompt)
        messages.append({"role": Role.USER.value, "content": user_content(text, files)})
        for model in models:
            self._outgoing.check_fits(model, messages, params.request_fields())

    def _require_json_mention(
        self, conversation: ConversationRecord | None, params: GenerationParams, text: str
    ) -> None:
        """JSON mode needs the word JSON somewhere in the request: the settings and the new
        message first, then the thread's tail, and only then the rest of a long thread."""
        texts = [params.system_prompt, text]
        if not mentions_json(texts) and conversation is not None:
            loaded = self.repository.load_thread(conversation, tail=VIEW_TAIL)
            texts += [message.content for message in loaded.messages]
            if not mentions_json(texts) and loaded.hidden:
                texts += [message.content for message in self.repository.thread(conversation)]
        if not mentions_json(texts):
            raise JsonModeUnmentioned(JSON_MODE_WARNING)

    def regenerate(
        self,
        user_id: int,
        reply_id: int,
        params: GenerationParams | None = None,
        *,
        compare: Sequence[str] = (),
    ) -> ConversationView:
        """Answer the same question again: a new alternative beside the earlier reply (or, after
        a failure, a retry; the failed reply stays stored as a sibling).

        With `params`, the page's current settings apply (raise the temperature, regenerate);
        without, the conversation's stored ones. A compared reply is asked again of its own
        model, into its own column, and the thread moves to the new reply only if it continued
        from the old one. `compare` (two to four models) asks them all again instead: a new
        comparison beside the earlier one.
        """
        reply, conversation = self._message(user_id, reply_id)
        if reply.role != Role.ASSISTANT or reply.parent_id is None:
            raise ConversationNotFound(CONVERSATION_GONE)
        if params is None:
            params = GenerationParams.from_settings(conversation.settings, conversation.model)
        column = compared_model(reply) if not compare else None
        models = compared_models(column or params.model, compare)
        if column is not None or len(models) > 1:
            params = replace(params, model=models[0], n=None)
        api_key = self.admit(user_id, params, also=models[1:])
        thread = self._thread_until(conversation, reply.parent_id)
        if column is not None and reply.choice_group is not None:
            return self._start_reply(
                user_id,
                conversation,
                thread,
                params,
                api_key=api_key,
                turn=_TurnShape(
                    compared=models,
                    joins=(reply.choice_group, reply.choice_index or 0),
                    selected=conversation.active_leaf_id == reply.id,
                ),
            )
        turn = _TurnShape.of(models)
        return self._start_reply(user_id, conversation, thread, params, api_key=api_key, turn=turn)

    retry = regenerate

    def edit(
        self,
        user_id: int,
        message_id: int,
        text: str,
        params: GenerationParams,
        *,
        compare_with: Sequence[str] = (),
    ) -> ConversationView:
        """Send an edited question as a new branch; the original and its replies stay. With
        `compare_with`, the edited question is compared as a send would be."""
        original, conversation = self._message(user_id, message_id)
        if original.role != Role.USER:
            raise ConversationNotFound(CONVERSATION_GONE)
        self.check_message(text, with_files=bool(original.attachments))
        params, models, api_key = self._admit_models(user_id, params, compare_with)
        self._check_fits(params, models, text, original.attachments)
        thread = self._thread_until(conversation, original.parent_id) if original.parent_id else []
        return self._start_reply(
            user_id,
            conversation,
            thread,
            params,
            text,
            api_key=api_key,
            files_of=original,
            turn=_TurnShape.of(models),
        )

    def switch_branch(self, user_id: int, message_id: int) -> bool:
        """Show another alternative (a choice, an earlier reply, the unedited question)."""
        return self.repository.select_branch(user_id, message_id) is not None

    def submit_tool_result(
        self, user_id: int, conversation_id: str, call_id: str, result: str
    ) -> ConversationView:
        """Store one call's result; once every call has one, the model continues.

        Admitted before the result is stored, even when other calls still wait: a result is
        the start of a request, and a teammate who may not send should not half-answer one.
        """
        conversation = self._conversation(user_id, conversation_id)
        thread = self.repository.thread(conversation)
        pending = pending_calls(thread)
        if pending is None or call_id not in {call.get("id") for call in pending.calls}:
            raise ChatInputError(TOOL_CALL_ANSWERED, code="tool_call_answered")
        limit = self.settings.max_message_chars
        if len(result) > limit:
            raise ChatInputError(
                N_("The result has {length:,} characters; the limit is {limit:,}."),
                code="tool_result_too_long",
                length=len(result),
                limit=limit,
            )
        params = GenerationParams.from_settings(conversation.settings, conversation.model)
        api_key = self.admit(user_id, params)
        answer = self.repository.add_message(
            conversation.id, Role.TOOL, result, parent_id=thread[-1].id, tool_call_id=call_id
        )
        thread = [*thread, answer]
        conversation = replace(conversation, active_leaf_id=answer.id)
        if len(pending.calls) > 1:
            return ConversationView(conversation, thread)
        return self._start_reply(user_id, conversation, thread, params, api_key=api_key)

    def run_builtin_tool(
        self, user_id: int, conversation_id: str, call_id: str
    ) -> ConversationView:
        """Run a built-in tool the model called (they are pure: no code, files or network)."""
        conversation = self._conversation(user_id, conversation_id)
        pending = pending_calls(self.repository.thread(conversation))
        call = next((c for c in pending.calls if c.get("id") == call_id), None) if pending else None
        if call is None:
            raise ChatInputError(TOOL_CALL_ANSWERED, code="tool_call_answered")
        name = call.get("function", {}).get("name", "")
        if name not in BUILTIN_TOOLS:
            raise ChatInputError(
                N_("{name!r} is not a built-in tool; enter its result yourself."),
                code="not_a_builtin_tool",
                name=name,
            )
        result = run_builtin(name, call.get("function", {}).get("arguments", ""))
        return self.submit_tool_result(user_id, conversation_id, call_id, result)

    def stop(self, user_id: int, message_id: int) -> bool:
        """Stop a reply of this person's, whichever process writes it; its text is kept.

        Here: the worker closes the stream. On another live process: a Stop goes there through
        the relay, and that process closes it. On a process that died: nobody is writing it any
        more, so it is closed here, as stopped."""
        message, _conversation = self._message(user_id, message_id)
        if self.worker.cancel(message_id):
            return True
        if message.status != MessageStatus.STREAMING:
            return False
        owner = message.owner_process
        if self._relay is not None and self._presence and self._presence.owner_alive(owner):
            self._relay.request_stop(message_id)
            return True
        if self._presence is not None and self._presence.owner_alive(owner):
            return False  # alive, and no way to reach it (SQLite shared by two processes)
        self.repository.finish_reply(
            message_id, ReplyOutcome(content=message.content, status=MessageStatus.STOPPED)
        )
        return True

    # --- the history list and a conversation's menu ------------------------------------

    def list_conversations(
        self,
        user_id: int,
        *,
        offset: int = 0,
        limit: int = 20,
        folder_id: int | None = None,
        archived: bool = False,
    ) -> ConversationPage:
        """The history (conversations in no folder), one folder's, or the Archive. (Finding
        one by its words is SearchService's.)"""
        return self.repository.list_conversations(
            user_id,
            offset=offset,
            limit=limit,
            folder_id=folder_id,
            archived=archived,
        )

    def rename(self, user_id: int, conversation_id: str, title: str) -> bool:
        return self.repository.rename_conversation(user_id, conversation_id, title[:200])

    def set_pinned(self, user_id: int, conversation_id: str, pinned: bool) -> None:
        self.repository.set_pinned(user_id, conversation_id, pinned)

    def delete(self, user_id: int, conversation_id: str) -> bool:
        return self.repository.delete_conversation(user_id, conversation_id)

    def token_total(self, user_id: int, conversation_id: str) -> int:
        total = self.repository.token_total(user_id, conversation_id)
        if total is None:
            raise ConversationNotFound(CONVERSATION_GONE)
        return total

    def token_use_by_model(self, user_id: int, conversation_id: str) -> list[tuple[str, int, int]]:
        """(model, prompt tokens, completion tokens) per model, for the conversation's cost."""
        conversation = self._conversation(user_id, conversation_id)
        return self.repository.token_use_by_model(conversation.id)

    # --- replies being written -----------------------------------------------------------

    def live(self, user_id: int, message_id: int) -> Following | None:
        """A reply of this person's being written, to follow token by token: in memory when
        this process writes it, through the relay when another does; None when neither can
        be followed (a row another process checkpoints on SQLite, or one already ended)."""
        local = self.worker.live(message_id)
        if local is not None:
            self._check_owner(user_id, message_id)  # someone else's reply is not theirs to watch
            return local
        message, _conversation = self._message(user_id, message_id)
        if self._relay is None or message.status != MessageStatus.STREAMING:
            return None
        return self._relay.follow(message_id, lambda: self.repository.get_message(message_id))

    def _check_owner(self, user_id: int, message_id: int) -> None:
        """Raises ConversationNotFound unless the message is this person's; read once per
        reply and person, then remembered (the most recent KNOWN_OWNERS_KEPT)."""
        key = (user_id, message_id)
        with self._owners_lock:
            if key in self._known_owners:
                self._known_owners.move_to_end(key)
                return
        self._message(user_id, message_id)
        with self._owners_lock:
            self._known_owners[key] = None
            while len(self._known_owners) > KNOWN_OWNERS_KEPT:
                self._known_owners.popitem(last=False)

    def message(self, user_id: int, message_id: int) -> MessageRecord | None:
        """A message of this person's as stored now; None if it is gone or not theirs."""
        try:
            return self._message(user_id, message_id)[0]
        except ConversationNotFound:
            return None

    def replies_generating(self) -> int:
        return self.worker.active_count()

    def request_user(self, user_id: int) -> str:
        return pseudonym(self._secret, user_id)

    def _conversation(self, user_id: int, conversation_id: str) -> ConversationRecord:
        conversation = self.repository.get_conversation(user_id, conversation_id)
        if conversation is None:
            raise ConversationNotFound(CONVERSATION_GONE)
        return conversation

    def _message(self, user_id: int, message_id: int) -> tuple[MessageRecord, ConversationRecord]:
        message = self.repository.get_message(message_id)
        conversation = (
            self.repository.get_conversation(user_id, message.conversation_id) if message else None
        )
        if message is None or conversation is None:
            raise ConversationNotFound(CONVERSATION_GONE)
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
        api_key: str | None,
        files_of: MessageRecord | None = None,
        turn: _TurnShape | None = None,
    ) -> ConversationView:
        """Save the user's message (if new) and the empty replies together below `thread` (a
        whole path: a regenerated or edited turn, tool results), then generate.

        `api_key` is what `admit` returned: every caller has admitted the request already.
        `files_of` is the question an edited one replaces: its files go with the new one.
        `turn` says whether the replies are compared models' and where they go.
        """
        turn = turn or _TurnShape()
        messages = api_messages(thread, params.system_prompt, sources=True)
        fields = params.request_fields()
        added = self.repository.start_reply(
            conversation.id,
            parent_id=thread[-1].id if thread else None,
            user_text=user_text,
            model=params.model,
            request_params={**fields, "stream": params.stream},
            settings=params.to_settings(),
            choices=params.choices,
            owner_process=self._presence.id if self._presence else None,
            copy_attachments_from=files_of.id if files_of else None,
            compared=turn.compared,
            joins=turn.joins,
            selected=turn.selected,
        )
        question = next((message for message in added if message.role == Role.USER), None)
        if question is not None:
            messages.append(_question(question))
        replies = [message for message in added if message.role == Role.ASSISTANT]
        self._hand_off(
            user_id,
            conversation,
            params,
            fields,
            replies,
            messages,
            api_key,
            turn=turn,
            counted=upstream_count(thread, params.model),
        )
        if turn.joins is None:
            opened = self._opened(conversation, params, replies)
        elif turn.selected:
            opened = replace(conversation, active_leaf_id=replies[0].id)
        else:
            opened = conversation
        # A new branch: its siblings are not in `thread`, so read the tree back.
        loaded = self.repository.load_thread(opened, tail=VIEW_TAIL)
        return ConversationView(opened, loaded.messages, loaded.alternatives, hidden=loaded.hidden)

    def _continue_thread(
        self,
        user_id: int,
        conversation_id: str,
        params: GenerationParams,
        user_text: str,
        *,
        api_key: str | None,
        attachments: Sequence[NewAttachment] = (),
        compared: tuple[str, ...] = (),
        gate: Gate | None = None,
    ) -> ConversationView:
        """A send: the question and its empty replies below the end of the visible thread,
        and the view the page draws, in one transaction that also checks the conversation is
        this person's and, with `gate`, admits them (ChatRepository.continue_thread; then
        `api_key` is the one the gate returns).

        The view's tail is all the request needs from the page thread when the conversation
        is short; in a long one, the generation thread reads the earlier messages for the
        request (GenerationJob.history): thousands of rows never hold up the page.
        """
        fields = params.request_fields()
        started = self.repository.continue_thread(
            user_id,
            conversation_id,
            user_text=user_text,
            model=params.model,
            request_params={**fields, "stream": params.stream},
            settings=params.to_settings(),
            choices=params.choices,
            owner_process=self._presence.id if self._presence else None,
            tail=VIEW_TAIL + 2,  # the question and the first reply, below what was drawn
            attachments=attachments,
            compared=compared,
            gate=gate,
        )
        if started is None:
            raise ConversationNotFound(CONVERSATION_GONE)
        if gate is not None:
            api_key = started.key
        view = started.view
        replies = [message for message in started.added if message.role == Role.ASSISTANT]
        leaf = started.before.active_leaf_id  # where the question went
        history = None
        if view.hidden and leaf is not None:
            messages = []
            history = self._history(started.before, leaf, params)
        else:
            messages = api_messages(view.messages[:-2], params.system_prompt, sources=True)
        question = next(message for message in started.added if message.role == Role.USER)
        messages.append(_question(question))
        self._hand_off(
            user_id,
            started.before,
            params,
            fields,
            replies,
            messages,
            api_key,
            history,
            turn=_TurnShape(compared=compared),
            counted=upstream_count(view.messages[:-2], params.model),
        )
        return ConversationView(
            started.opened, view.messages, view.alternatives, hidden=view.hidden
        )

    @staticmethod
    def _opened(
        conversation: ConversationRecord, params: GenerationParams, replies: list[MessageRecord]
    ) -> ConversationRecord:
        """The conversation as the turn's transaction left it."""
        return replace(
            conversation,
            model=params.model,
            settings=params.to_settings(),
            active_leaf_id=replies[0].id,
        )

    def _hand_off(
        self,
        user_id: int,
        conversation: ConversationRecord,
        params: GenerationParams,
        fields: dict[str, Any],
        replies: list[MessageRecord],
        messages: list[dict[str, Any]],
        api_key: str | None,
        history: Callable[[], list[dict[str, Any]]] | None = None,
        *,
        turn: _TurnShape,
        counted: tuple[int, int] | None = None,
    ) -> None:
        """The request to the generation worker: from here on, nothing waits on the page.

        Compared models get one request each, equal but for the model, submitted together so
        one Stop ends them all; the earlier messages of a long thread are read once for all."""
        user = self.request_user(user_id)
        if turn.compared:
            history = _once(history) if history is not None else None
            batch = [([reply.id], reply.model or params.model) for reply in replies]
        else:
            batch = [([reply.id for reply in replies], params.model)]
        jobs = [
            GenerationJob(
                tuple(ids),
                conversation.id,
                {"model": model, "messages": messages, **fields, "user": user},
                params.stream,
                api_key=api_key,
                history=history,
                counted=counted if model == params.model else None,
            )
            for ids, model in batch
        ]
        if len(jobs) == 1:
            self.worker.submit(jobs[0])
        else:
            self.worker.submit_together(jobs)

    def _history(
        self, conversation: ConversationRecord, leaf_id: int, params: GenerationParams
    ) -> Callable[[], list[dict[str, Any]]]:
        """The request's messages up to `leaf_id`, read when called (on the generation thread)."""

        def read() -> list[dict[str, Any]]:
            thread = self._thread_until(conversation, leaf_id)
            return api_messages(thread, params.system_prompt, sources=True)

        return read

    # --- files -----------------------------------------------------------------------------

    def attachment(self, user_id: int, attachment_id: int) -> tuple[AttachmentRecord, bytes] | None:
        """A file of this person's messages with its bytes; None for anyone else's."""
        return self.repository.attachment_of(user_id, attachment_id)

    def context_window(self, model: str) -> int | None:
        """The context the model is taken to have (None when nothing is checked)."""
        return self._outgoing.window(model) if self._outgoing is not None else None


@dataclass(frozen=True, slots=True)
class _TurnShape:
    """How a turn's replies are laid out: one request's (one, or n choices), or compared
    models' (one each); `joins` puts one compared model's new reply into its column of an
    earlier comparison, (choice_group, choice_index), and `selected` moves the thread to it."""

    compared: tuple[str, ...] = ()
    joins: tuple[int, int] | None = None
    selected: bool = True

    @classmethod
    def of(cls, models: tuple[str, ...]) -> _TurnShape:
        """A new turn for `models`: a comparison when there are several."""
        return cls(compared=models if len(models) > 1 else ())


def upstream_count(thread: Sequence[MessageRecord], model: str) -> tuple[int, int] | None:
    """(id, tokens) of the thread's newest reply when the upstream counted its whole request:
    its prompt and completion tokens, for `model` itself (the same id, or a dated snapshot of
    it), from a request that left nothing out. Else None, and the thread is tokenized."""
    reply = next((message for message in reversed(thread) if message.role == Role.ASSISTANT), None)
    if (
        reply is None
        or reply.status != MessageStatus.COMPLETE
        or reply.prompt_tokens is None
        or reply.completion_tokens is None
        or reply.context_start_id is not None
        or reply.choice_group is not None  # n choices: the usage was shared out
    ):
        return None
    answered = reply.model or ""
    if answered != model and not answered.startswith(f"{model}-20"):
        return None
    return reply.id, reply.prompt_tokens + reply.completion_tokens


def _once(read: Callable[[], list[dict[str, Any]]]) -> Callable[[], list[dict[str, Any]]]:
    """`read`, run by whichever compared request needs it first and shared with the others."""
    lock = threading.Lock()
    result: list[list[dict[str, Any]]] = []

    def shared() -> list[dict[str, Any]]:
        with lock:
            if not result:
                result.append(read())
            return result[0]

    return shared


def _question(message: MessageRecord) -> dict[str, Any]:
    """The request message of a question just stored, with its files, marked with its id."""
    return {
        "role": Role.USER.value,
        "content": user_content(message.content, message.attachments),
        SOURCE_ID: message.id,
    }


def _draft(position: int, item: NewAttachment) -> AttachmentRecord:
    """A file not stored yet, as a record, to count what the question will send."""
    return AttachmentRecord(
        id=0,
        message_id=0,
        position=position,
        name=item.name,
        media_type=item.media_type,
        kind=item.kind,
        sha256="0" * 64,
        size=len(item.data),
        width=item.width,
        height=item.height,
        pages=item.pages,
        text=item.text,
    )
