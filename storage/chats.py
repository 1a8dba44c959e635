"""Conversations, their messages and presets: queries and writes, each scoped to a user and
returning plain records."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from storage.attachments import (
    blob_data,
    file_with_data,
    files_of_message,
    prune_unreferenced_blobs,
    store_files,
)
from storage.convert import conversation_record, message_record, preset_record
from storage.db import Database, rows_changed
from storage.models import Conversation, Folder, Message, Preset, UsageEvent, User, utcnow
from storage.records import (
    AttachmentRecord,
    ConversationPage,
    ConversationRecord,
    MessageRecord,
    MessageStatus,
    NewAttachment,
    PresetRecord,
    ReplyOutcome,
    Role,
    Thread,
)
from storage.threads import newest_leaf_below, read_path, read_tail, read_tail_in, read_thread
from storage.usage import ADMISSION, Gate, admission_values


class ChatRepository:
    """Conversations, messages and presets. Finishing a reply also writes its usage ledger
    entry, in the same transaction (storage/usage.py reads the ledger)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Conversations -----------------------------------------------------------------------

    def create_conversation(
        self,
        user_id: int,
        title: str,
        model: str,
        settings: dict[str, Any] | None = None,
        *,
        folder_id: int | None = None,
        temporary: bool = False,
    ) -> ConversationRecord:
        """A folder that is not this person's files nothing: the conversation is unfiled."""
        with self.db.session() as session:
            if folder_id is not None:
                owned = session.scalar(
                    select(Folder.id).where(Folder.id == folder_id, Folder.user_id == user_id)
                )
                folder_id = owned
            row = Conversation(
                id=secrets.token_hex(16),
                user_id=user_id,
                title=title,
                model=model,
                settings=settings or {},
                folder_id=folder_id,
                temporary=temporary,
            )
            session.add(row)
            session.flush()
            return conversation_record(row)

    def get_conversation(self, user_id: int, conversation_id: str) -> ConversationRecord | None:
        """None both for a missing id and for someone else's: the caller cannot tell them apart."""
        with self.db.session() as session:
            row = session.scalar(
                _CONVERSATION_OF, {"conversation_id": conversation_id, "user_id": user_id}
            )
            return conversation_record(row) if row else None

    def shared_conversation(self, conversation_id: str) -> ConversationRecord | None:
        """Unscoped: only for a conversation a valid share link has already resolved to."""
        with self.db.session() as session:
            row = session.get(Conversation, conversation_id)
            return conversation_record(row) if row else None

    def list_conversations(
        self,
        user_id: int,
        *,
        offset: int = 0,
        limit: int = 20,
        folder_id: int | None = None,
        archived: bool = False,
    ) -> ConversationPage:
        """The sidebar's list: conversations in no folder (or in `folder_id`), never temporary
        ones; with `archived`, the Archive view instead (every folder)."""
        query = select(Conversation).where(
            Conversation.user_id == user_id,
            Conversation.archived.is_(archived),
            Conversation.temporary.is_(False),
        )
        if not archived:
            query = query.where(
                Conversation.folder_id.is_(None)
                if folder_id is None
                else Conversation.folder_id == folder_id
            )
        query = query.order_by(
            Conversation.pinned.desc(), Conversation.updated_at.desc(), Conversation.id
        )
        with self.db.session() as session:
            rows = list(session.scalars(query.offset(offset).limit(limit + 1)))
        return ConversationPage(
            items=[conversation_record(row) for row in rows[:limit]],
            has_more=len(rows) > limit,
            offset=offset,
        )

    def rename_conversation(self, user_id: int, conversation_id: str, title: str) -> bool:
        return self._update_conversation(user_id, conversation_id, title=title)

    def set_pinned(self, user_id: int, conversation_id: str, pinned: bool) -> bool:
        return self._update_conversation(user_id, conversation_id, pinned=pinned)

    def _update_conversation(self, user_id: int, conversation_id: str, **values: Any) -> bool:
        with self.db.session() as session:
            result = session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
                .values(**values)
            )
            return rows_changed(result) == 1

    def delete_conversation(self, user_id: int, conversation_id: str) -> bool:
        """Messages and their files' rows go with it through ON DELETE CASCADE, in the same
        statement; the files' bytes no other message carries, in the same transaction."""
        with self.db.session() as session:
            result = session.execute(
                delete(Conversation).where(
                    Conversation.id == conversation_id, Conversation.user_id == user_id
                )
            )
            if rows_changed(result) != 1:
                return False
            prune_unreferenced_blobs(session)
            return True

    def token_total(self, user_id: int, conversation_id: str) -> int | None:
        """The conversation's tokens, every branch and choice counted; None when it is not
        this person's (or not there). One statement with the ownership check, as every run of
        the conversation's page asks: a separate read of the conversation first was a second
        session and round trip."""
        with self.db.session() as session:
            total = session.execute(
                _TOKEN_TOTAL_OF, {"conversation_id": conversation_id, "user_id": user_id}
            ).scalar_one_or_none()
            return None if total is None else int(total)

    def token_use_by_model(self, conversation_id: str) -> list[tuple[str, int, int]]:
        """(model, prompt tokens, completion tokens) of the conversation's replies, per model:
        what its cost is computed from."""
        with self.db.session() as session:
            rows = session.execute(
                select(
                    Message.model,
                    func.coalesce(func.sum(Message.prompt_tokens), 0),
                    func.coalesce(func.sum(Message.completion_tokens), 0),
                )
                .where(Message.conversation_id == conversation_id, Message.model.is_not(None))
                .where(Message.total_tokens.is_not(None))
                .group_by(Message.model)
            ).all()
            return [(str(model), int(prompt or 0), int(done or 0)) for model, prompt, done in rows]

    # Messages ----------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        *,
        parent_id: int | None,
        status: MessageStatus = MessageStatus.COMPLETE,
        model: str | None = None,
        request_params: dict[str, Any] | None = None,
        tool_call_id: str | None = None,
    ) -> MessageRecord:
        """Append a message and make it the end of the visible thread."""
        with self.db.session() as session:
            row = Message(
                conversation_id=conversation_id,
                parent_id=parent_id,
                role=role,
                content=content,
                status=status,
                model=model,
                request_params=request_params,
                tool_call_id=tool_call_id,
            )
            session.add(row)
            session.flush()
            session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(active_leaf_id=row.id, updated_at=utcnow())
            )
            return message_record(row)

    def start_reply(
        self,
        conversation_id: str,
        *,
        parent_id: int | None,
        user_text: str | None,
        model: str,
        request_params: dict[str, Any],
        settings: dict[str, Any],
        choices: int = 1,
        owner_process: str | None = None,
        attachments: Sequence[NewAttachment] = (),
        copy_attachments_from: int | None = None,
        compared: Sequence[str] = (),
        joins: tuple[int, int] | None = None,
        selected: bool = True,
    ) -> list[MessageRecord]:
        """One transaction for a turn's start: the user's message (if any) with its files,
        one empty reply per choice (owned by the process that will write it), and the
        conversation's settings and leaf (the first choice). Returns the messages added.

        `copy_attachments_from`, a message of this conversation (the question an edit
        replaces), gives the new question that message's files first, sharing their bytes;
        `attachments` follow them. `compared` models get one reply each instead of `choices`
        (a comparison: see _insert_turn); `joins` puts the one reply into an existing group
        at a column, (choice_group, choice_index): one compared model asked again. The
        conversation then keeps its model and settings, and its leaf unless `selected`."""
        turn = _Turn(
            conversation_id,
            user_text,
            model,
            request_params,
            settings,
            choices,
            owner_process,
            tuple(attachments),
            copy_attachments_from,
            tuple(compared),
            joins,
        )
        now = utcnow()
        with self.db.session() as session:
            added = _insert_turn(session, turn, parent_id, now)
            if joins is not None:
                moved = {"active_leaf_id": added[-1].id} if selected else {}
                session.execute(
                    update(Conversation)
                    .where(Conversation.id == conversation_id)
                    .values(updated_at=now, **moved)
                )
                return added
            leaf = next(message.id for message in added if message.role == Role.ASSISTANT)
            session.execute(
                _TURN_STARTED,
                {
                    "conversation_id": conversation_id,
                    "leaf": leaf,
                    "turn_model": model,
                    "turn_settings": settings,
                    "now": now,
                },
            )
            return added

    def continue_thread(
        self,
        user_id: int,
        conversation_id: str,
        *,
        user_text: str,
        model: str,
        request_params: dict[str, Any],
        settings: dict[str, Any],
        choices: int = 1,
        owner_process: str | None = None,
        tail: int,
        attachments: Sequence[NewAttachment] = (),
        compared: Sequence[str] = (),
        gate: Gate | None = None,
    ) -> TurnStarted | None:
        """A send in one transaction, with nothing read before it: the question goes below
        the end of the conversation's visible thread, only if the conversation is this
        person's (None, and nothing written, otherwise), then one empty reply per choice, and
        the conversation takes the turn's settings, time and leaf; the thread's last `tail`
        messages are read back for the page. Writing first also means SQLite takes its write
        lock at once: a transaction that read first would fail, not wait, once a generation
        thread's checkpoint made its snapshot stale. The question's files are written with
        it; `compared` models get one reply each, as in start_reply. On PostgreSQL a send of
        one reply is two statements, the writes with the admission and then the tail (four
        round trips with BEGIN and COMMIT): a round trip costs about as much as its work.

        `gate` admits the sender right after the first write, before the conversation is
        found missing (a refusal outranks it, as when admission came first): what it raises
        rolls the write back, so a refused send writes nothing."""
        turn = _Turn(
            conversation_id,
            user_text,
            model,
            request_params,
            settings,
            choices,
            owner_process,
            tuple(attachments),
            compared=tuple(compared),
        )
        now = utcnow()
        asked = {**_question_values(turn, now, None), "attachment_count": len(attachments)}
        turned = {
            "conversation_id": conversation_id,
            "turn_model": model,
            "turn_settings": settings,
            "now": now,
        }
        with self.db.session() as session:
            if self.db.engine.dialect.name == "postgresql" and choices == 1 and not compared:
                written = self._send_at_once(session, turn, asked, user_id, turned, gate)
                if written is None:
                    return None
                question, replies, opened, key = written
            else:
                claimed, key = self._claim(session, _claim_values(asked, user_id), gate)
                if claimed is None:
                    return None
                question_id, asked["parent_id"] = claimed
                question = _with_files(session, turn, _record(asked, question_id))
                replies = _insert_replies(session, turn, question.id, now)
                row = session.execute(_TURN_CLAIMED, {**turned, "leaf": replies[0].id}).one()
                opened = conversation_record(Conversation(**row._mapping))
            before = replace(opened, active_leaf_id=question.parent_id)
            view = read_tail_in(session, self.db, opened, tail)
            return TurnStarted(before, opened, [question, *replies], view, key)

    def _send_at_once(
        self,
        session: Session,
        turn: _Turn,
        asked: dict[str, Any],
        owner: int,
        turned: dict[str, Any],
        gate: Gate | None,
    ) -> tuple[MessageRecord, list[MessageRecord], ConversationRecord, str | None] | None:
        """PostgreSQL, a send of one reply: question, reply, the conversation's turn and the
        sender's admission facts in one statement (_SEND_AT_ONCE), then the gate's decision
        and the question's files. None when the conversation is not `owner`'s."""
        now = turned["now"]
        reply = _reply_values(turn, None, now)
        found = session.execute(
            _SEND_AT_ONCE,
            {
                **_claim_values(asked, owner),
                **turned,
                **{f"reply_{name}": reply[name] for name in _REPLY_FIELDS},
                # Without a gate the facts are read all the same, and not looked at.
                **(gate.values(owner) if gate is not None else admission_values(owner, now, now)),
            },
        ).first()
        key = gate.admit_from(session, found) if gate is not None else None
        if found is None or found.question_id is None:
            return None
        written = found._mapping
        question = _record({**asked, "parent_id": found.question_parent_id}, found.question_id)
        question = _with_files(session, turn, question)
        conversation = {column.name: written[f"turn_{column.name}"] for column in _CONVERSATIONS.c}
        opened = conversation_record(Conversation(**conversation))
        answer = _record({**reply, "parent_id": question.id}, found.turn_active_leaf_id)
        return question, [answer], opened, key

    def _claim(
        self, session: Session, values: dict[str, Any], gate: Gate | None
    ) -> tuple[tuple[int, int | None] | None, str | None]:
        """A send's first write: its question below the conversation's leaf, which it locks as
        an UPDATE would (two sends at once go one below the other), only if the conversation
        is :owner's; then the gate's decision. Returns the question's id and parent (None
        when not theirs) and the key the gate admitted them with."""
        claimed = session.execute(_CLAIM_QUESTION, values).first()
        key = gate.admit(session, values["owner"]) if gate is not None else None
        return (None if claimed is None else (claimed.id, claimed.parent_id)), key

    def get_message(self, message_id: int) -> MessageRecord | None:
        with self.db.session() as session:
            row = session.get(Message, message_id)
            if row is None:
                return None
            files = files_of_message(session, row.id) if row.attachment_count else ()
            return message_record(row, files)

    # Files -------------------------------------------------------------------------------

    def attachment_data(self, shas: Collection[str]) -> dict[str, bytes]:
        """The bytes of the stored files among `shas` (by content hash), for a request to the
        model; a hash not stored is left out. Unscoped: the hashes come from records the
        caller was allowed to read."""
        with self.db.session() as session:
            return blob_data(session, shas)

    def attachment_of(
        self, user_id: int, attachment_id: int
    ) -> tuple[AttachmentRecord, bytes] | None:
        """A file and its bytes; None both for a missing id and for a file of someone else's
        conversation: a file's URL or id grants nothing by itself."""
        owned = exists().where(
            Conversation.id == Message.conversation_id, Conversation.user_id == user_id
        )
        with self.db.session() as session:
            return file_with_data(session, attachment_id, owned)

    def attachment_in(
        self, conversation_id: str, attachment_id: int
    ) -> tuple[AttachmentRecord, bytes] | None:
        """A file of `conversation_id`, for a viewer of that conversation's share link (the
        caller has checked the link); None for a file of any other conversation."""
        with self.db.session() as session:
            return file_with_data(
                session, attachment_id, Message.conversation_id == conversation_id
            )

    def mark_context_start(self, message_ids: Sequence[int], first_sent_id: int) -> None:
        """Record on replies whose request left out the thread's oldest messages where the
        context sent begins, so the page marks it after a reload too."""
        if not message_ids:
            return
        with self.db.session() as session:
            session.execute(
                update(Message)
                .where(Message.id.in_(list(message_ids)))
                .values(context_start_id=first_sent_id)
            )

    def thread(self, conversation: ConversationRecord) -> list[MessageRecord]:
        """The visible thread: from the root down to the conversation's active leaf."""
        return read_path(self.db, conversation)

    def load_thread(
        self,
        conversation: ConversationRecord,
        *,
        tail: int | None = None,
        through: int | None = None,
        above: int = 1,
    ) -> Thread:
        """The visible thread plus, for each step that has them, its sibling branches.

        With `tail`, only its last `tail` messages (and `through`, a message landed on, with
        `above` messages before it): see storage/threads.py."""
        if tail is None:
            return read_thread(self.db, conversation)
        return read_tail(self.db, conversation, tail, through=through, above=above)

    def select_branch(self, user_id: int, message_id: int) -> ConversationRecord | None:
        """Show the branch through `message_id`, continuing where it was last extended."""
        with self.db.session() as session:
            target = session.execute(
                select(Message.id, Message.conversation_id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.id == message_id, Conversation.user_id == user_id)
            ).first()
            if target is None:
                return None
            conversation = session.get(Conversation, target.conversation_id)
            assert conversation is not None  # the join above found it
            conversation.active_leaf_id = newest_leaf_below(session, target.id)
            session.flush()
            return conversation_record(conversation)

    def save_progress(self, message_id: int, content: str) -> None:
        """Checkpoint a streaming reply so a crash or restart keeps what had arrived."""
        with self.db.session() as session:
            session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(content=content, updated_at=utcnow())
            )

    def finish_reply(self, message_id: int, outcome: ReplyOutcome) -> None:
        with self.db.session() as session:
            row = session.get(Message, message_id)
            if row is None:  # deleted while generating: nothing left to update
                return
            requested_model = row.model
            # ReplyOutcome's fields are named after the columns they fill.
            for name, value in asdict(outcome).items():
                setattr(row, name, value)
            row.model = outcome.model or requested_model  # an error reply names no model
            row.updated_at = utcnow()
            if outcome.total_tokens is not None:
                # The quota ledger: kept apart from the message so deleting it refunds nothing.
                owner = session.scalar(
                    select(Conversation.user_id).where(Conversation.id == row.conversation_id)
                )
                if owner is not None:
                    session.add(
                        UsageEvent(
                            user_id=owner,
                            message_id=row.id,
                            model=row.model or "",
                            prompt_tokens=outcome.prompt_tokens or 0,
                            completion_tokens=outcome.completion_tokens or 0,
                            total_tokens=outcome.total_tokens,
                        )
                    )
            session.execute(
                update(Conversation)
                .where(Conversation.id == row.conversation_id)
                .values(updated_at=utcnow())
            )

    # Presets -----------------------------------------------------------------------------

    def list_presets(self, user_id: int) -> list[PresetRecord]:
        """The user's own presets and the ones teammates shared, by name."""
        query = (
            select(Preset, User.username)
            .join(User, User.id == Preset.user_id)
            .where((Preset.user_id == user_id) | Preset.shared.is_(True))
            .order_by(func.lower(Preset.name), Preset.id)
        )
        with self.db.session() as session:
            return [preset_record(row, owner) for row, owner in session.execute(query).all()]

    def get_preset(self, user_id: int, preset_id: int) -> PresetRecord | None:
        query = (
            select(Preset, User.username)
            .join(User, User.id == Preset.user_id)
            .where(Preset.id == preset_id, (Preset.user_id == user_id) | Preset.shared.is_(True))
        )
        with self.db.session() as session:
            found = session.execute(query).first()
            return preset_record(found[0], found[1]) if found else None

    def save_preset(
        self, user_id: int, name: str, settings: dict[str, Any], *, shared: bool
    ) -> PresetRecord:
        """Create, or overwrite the user's preset of the same name."""
        with self.db.session() as session:
            row = session.scalar(
                select(Preset).where(Preset.user_id == user_id, Preset.name == name)
            )
            if row is None:
                row = Preset(user_id=user_id, name=name)
                session.add(row)
            row.settings = settings
            row.shared = shared
            row.updated_at = utcnow()
            session.flush()
            owner = session.scalar(select(User.username).where(User.id == user_id)) or ""
            return preset_record(row, owner)

    def delete_preset(self, user_id: int, preset_id: int) -> bool:
        """Only the owner deletes a preset, shared or not."""
        with self.db.session() as session:
            result = session.execute(
                delete(Preset).where(Preset.id == preset_id, Preset.user_id == user_id)
            )
            return rows_changed(result) == 1


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """What `continue_thread` wrote and read."""

    before: ConversationRecord  # as claimed: its leaf is the question's parent
    opened: ConversationRecord  # as the transaction left it: the first reply is its leaf
    added: list[MessageRecord]
    view: Thread
    key: str | None = None  # what the gate admitted the sender with: their key, or the team's


@dataclass(frozen=True, slots=True)
class _Turn:
    """What starting a reply writes, apart from where."""

    conversation_id: str
    user_text: str | None
    model: str
    request_params: dict[str, Any]
    settings: dict[str, Any]
    choices: int
    owner_process: str | None
    attachments: tuple[NewAttachment, ...] = ()
    copy_attachments_from: int | None = None
    compared: tuple[str, ...] = ()
    joins: tuple[int, int] | None = None


_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
# What a message insert writes into its record; its files are rows of their own.
_RECORD_FIELDS = tuple(field.name for field in fields(MessageRecord) if field.name != "attachments")
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
# Statements of every send, built once: composing one costs more than running it.
_ADD_MESSAGE = insert(_MESSAGES).returning(_MESSAGES.c.id)
# What a turn writes into its conversation, besides the leaf.
_TURN_VALUES = {
    "model": bindparam("turn_model"),
    "settings": bindparam("turn_settings", type_=_CONVERSATIONS.c.settings.type),
    "updated_at": bindparam("now", type_=_CONVERSATIONS.c.updated_at.type),
}
# The conversation :conversation_id, only if it is :owner's.
_OWNED = (
    _CONVERSATIONS.c.id == bindparam("conversation_id"),
    _CONVERSATIONS.c.user_id == bindparam("owner"),
)
_TURN_STARTED = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(active_leaf_id=bindparam("leaf"), **_TURN_VALUES)
)
_TURN_CLAIMED = _TURN_STARTED.returning(*_CONVERSATIONS.c)


def _bound(prefix: str, names: Sequence[str]) -> list[BindParameter[Any]]:
    """Parameters for the message columns `names`, typed as those columns, named with
    `prefix` so that one statement can fill two messages (see _claim_values)."""
    return [bindparam(f"{prefix}{name}", type_=_MESSAGES.c[name].type) for name in names]


_QUESTION_COLUMNS = ("role", "content", "status", "attachment_count", "created_at", "updated_at")
# A send's question, written only into a conversation of :owner's, below its leaf (locked).
_CLAIM_QUESTION = (
    insert(_MESSAGES)
    .from_select(
        ["conversation_id", "parent_id", *_QUESTION_COLUMNS],
        select(
            _CONVERSATIONS.c.id,
            _CONVERSATIONS.c.active_leaf_id,
            *_bound("question_", _QUESTION_COLUMNS),
        )
        .where(*_OWNED)
        .with_for_update(),
    )
    .returning(_MESSAGES.c.id, _MESSAGES.c.parent_id)
)
_ASKED = _CLAIM_QUESTION.cte("asked")
_ADMITTED = ADMISSION.subquery("admitted")
_REPLY_FIELDS = (
    "conversation_id",
    "role",
    "content",
    "status",
    "model",
    "request_params",
    "owner_process",
    "created_at",
    "updated_at",
)
_LONE_REPLY = (
    insert(_MESSAGES)
    .from_select(
        ["parent_id", "attachment_count", *_REPLY_FIELDS],
        select(
            _ASKED.c.id,
            literal(0),
            *_bound("reply_", _REPLY_FIELDS),
        ),
    )
    .returning(_MESSAGES.c.id)
    .cte("reply")
)
_TURN = (
    update(_CONVERSATIONS)
    .where(*_OWNED)
    .values(active_leaf_id=select(_LONE_REPLY.c.id).scalar_subquery(), **_TURN_VALUES)
    .returning(*_CONVERSATIONS.c)
    .cte("turn")
)
# PostgreSQL, a send of one reply, in one statement: the question below the conversation's
# leaf (locked, only if the conversation is :owner's), its empty reply, the conversation's
# settings, time and leaf, and the sender's admission facts. A data-modifying WITH runs
# whether or not it is read; no row when the account is gone.
_SEND_AT_ONCE = select(
    select(_ASKED.c.id).scalar_subquery().label("question_id"),
    select(_ASKED.c.parent_id).scalar_subquery().label("question_parent_id"),
    *(column.label(f"turn_{column.name}") for column in _TURN.c),
    *_ADMITTED.c,
).select_from(_ADMITTED.outerjoin(_TURN, true()))
_CONVERSATION_OF = select(Conversation).where(
    Conversation.id == bindparam("conversation_id"), Conversation.user_id == bindparam("user_id")
)
# The sum reads the covering index ix_messages_conversation_tokens alone (migration 0009).
_TOKEN_TOTAL_OF = select(
    select(func.coalesce(func.sum(Message.total_tokens), 0))
    .where(Message.conversation_id == bindparam("conversation_id"))
    .scalar_subquery()
).where(
    Conversation.id == bindparam("conversation_id"), Conversation.user_id == bindparam("user_id")
)


def _insert_message(session: Session, values: dict[str, Any]) -> MessageRecord:
    """One message through Core, not a unit-of-work flush (a third of the cost); the record
    is built from what was written, with no read back."""
    return _record(values, session.execute(_ADD_MESSAGE, values).scalar_one())


def _record(values: dict[str, Any], message_id: int) -> MessageRecord:
    row: dict[str, Any] = {name: values.get(name) for name in _RECORD_FIELDS}
    return MessageRecord(**{**row, "id": message_id})


def _claim_values(asked: dict[str, Any], owner: int) -> dict[str, Any]:
    """_CLAIM_QUESTION's parameters. None is named as a column is: executed with such a
    parameter, an UPDATE in the same statement (_SEND_AT_ONCE) would write it."""
    values = {f"question_{name}": asked[name] for name in _QUESTION_COLUMNS}
    return {**values, "conversation_id": asked["conversation_id"], "owner": owner}


def _question_values(turn: _Turn, now: datetime, parent_id: int | None) -> dict[str, Any]:
    return {
        **_common(turn, now),
        "parent_id": parent_id,
        "role": Role.USER.value,
        "content": turn.user_text,
        "status": MessageStatus.COMPLETE.value,
    }


def _common(turn: _Turn, now: datetime) -> dict[str, Any]:
    return {"conversation_id": turn.conversation_id, "created_at": now, "updated_at": now}


def _insert_question(session: Session, turn: _Turn, values: dict[str, Any]) -> MessageRecord:
    """The user's message and its files: the kept files of the question it replaces first
    (same blobs), then the new ones."""
    kept: tuple[AttachmentRecord, ...] = ()
    if turn.copy_attachments_from is not None:
        kept = files_of_message(session, turn.copy_attachments_from, turn.conversation_id)
    count = len(kept) + len(turn.attachments)
    question = _insert_message(session, {**values, "attachment_count": count})
    return _with_files(session, turn, question, kept)


def _with_files(
    session: Session,
    turn: _Turn,
    question: MessageRecord,
    kept: tuple[AttachmentRecord, ...] = (),
) -> MessageRecord:
    if not kept and not turn.attachments:
        return question
    files = store_files(session, question.id, turn.attachments, kept=kept)
    return replace(question, attachments=files)


def _insert_turn(
    session: Session, turn: _Turn, parent_id: int | None, now: datetime
) -> list[MessageRecord]:
    added: list[MessageRecord] = []
    if turn.user_text is None and (turn.attachments or turn.copy_attachments_from is not None):
        raise ValueError("files belong to a user message: this turn adds none")
    if turn.user_text is not None:
        question = _insert_question(session, turn, _question_values(turn, now, parent_id))
        parent_id = question.id
        added.append(question)
    return added + _insert_replies(session, turn, parent_id, now)


def _reply_values(turn: _Turn, parent_id: int | None, now: datetime) -> dict[str, Any]:
    return {
        **_common(turn, now),
        "parent_id": parent_id,
        "role": Role.ASSISTANT.value,
        "content": "",
        "status": MessageStatus.STREAMING.value,
        "model": turn.model,
        "request_params": turn.request_params,
        "owner_process": turn.owner_process,
    }


def _insert_replies(
    session: Session, turn: _Turn, parent_id: int | None, now: datetime
) -> list[MessageRecord]:
    """One empty reply per choice, or per compared model, below `parent_id`."""
    added: list[MessageRecord] = []
    reply = _reply_values(turn, parent_id, now)
    # A compared model's reply names its model in its request fields too: the reply's own
    # model becomes the one the upstream answered with, and asking again needs the one asked.
    columns = [
        {**reply, "model": model, "request_params": {**turn.request_params, "model": model}}
        for model in turn.compared
    ] or [reply] * turn.choices
    if turn.joins is not None:
        group, index = turn.joins
        added.append(
            _insert_message(session, {**columns[0], "choice_index": index, "choice_group": group})
        )
    elif len(columns) == 1:
        added.append(_insert_message(session, columns[0]))
    else:
        first = _insert_message(session, {**columns[0], "choice_index": 0})
        group = first.id
        session.execute(update(Message).where(Message.id == group).values(choice_group=group))
        added.append(replace(first, choice_group=group))
        for index, column in enumerate(columns[1:], start=1):
            added.append(
                _insert_message(session, {**column, "choice_index": index, "choice_group": group})
            )
    return added
