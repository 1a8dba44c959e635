"""Use cases that organise a person's conversations: folders (with the preset a new chat in
one starts from), the archive, bulk archive and delete, temporary chats, and the team's
retention period, which only administrators set."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chatcore.chat.params import GenerationParams
from chatcore.chat.presets import PresetBook
from chatcore.errors import LibraryError, PresetNotFound
from chatcore.i18n import N_
from storage import FolderRecord, UserRecord
from storage.library import FolderNameTaken, LibraryRepository

log = logging.getLogger(__name__)

FOLDER_NAME_MAX_CHARS = 100
RETENTION_MAX_DAYS = 36_500
FOLDER_GONE = N_("That folder no longer exists.")
FOLDER_NAME_TAKEN = N_("You already have a folder named “{name}”.")


@dataclass(frozen=True, slots=True)
class BulkScope:
    """Which conversations a bulk action touches: those in a folder, those last used before a
    date, or both at once. An empty scope is refused rather than read as "everything"."""

    folder_id: int | None = None
    before: datetime | None = None


class Library:
    def __init__(
        self,
        repository: LibraryRepository,
        presets: PresetBook,
        *,
        require_admin: Callable[[UserRecord], object],
        temporary_chat_hours: float,
    ) -> None:
        """`require_admin` raises unless the account is, at this moment, an enabled
        administrator (AccountService.require_admin)."""
        self._repository = repository
        self._presets = presets
        self._require_admin = require_admin
        self._temporary_lifetime = timedelta(hours=temporary_chat_hours)

    # Folders ----------------------------------------------------------------------------

    def folders(self, user_id: int) -> list[FolderRecord]:
        return self._repository.list_folders(user_id)

    def create_folder(self, user_id: int, name: str, preset_id: int | None = None) -> FolderRecord:
        name = _folder_name(name)
        try:
            return self._repository.create_folder(user_id, name, preset_id)
        except FolderNameTaken:
            raise LibraryError(FOLDER_NAME_TAKEN, code="folder_name_taken", name=name) from None

    def update_folder(
        self, user_id: int, folder_id: int, name: str, preset_id: int | None
    ) -> FolderRecord:
        name = _folder_name(name)
        try:
            changed = self._repository.update_folder(
                user_id, folder_id, name=name, preset_id=preset_id
            )
        except FolderNameTaken:
            raise LibraryError(FOLDER_NAME_TAKEN, code="folder_name_taken", name=name) from None
        return self._folder(user_id, folder_id) if changed else self._gone()

    def delete_folder(self, user_id: int, folder_id: int) -> bool:
        """The folder goes; its conversations stay, back among the dates."""
        return self._repository.delete_folder(user_id, folder_id)

    def move(self, user_id: int, conversation_id: str, folder_id: int | None) -> None:
        if not self._repository.move_conversation(user_id, conversation_id, folder_id):
            self._gone()

    def new_chat_params(self, user_id: int, folder_id: int) -> GenerationParams | None:
        """What a new chat in this folder starts from: its preset's settings, or None when it
        has none (or the preset was deleted, or its owner stopped sharing it)."""
        folder = self._repository.get_folder(user_id, folder_id)
        if folder is None or folder.preset_id is None:
            return None
        try:
            return self._presets.params(user_id, folder.preset_id)
        except PresetNotFound:
            return None

    def _folder(self, user_id: int, folder_id: int) -> FolderRecord:
        folder = self._repository.get_folder(user_id, folder_id)
        return folder if folder is not None else self._gone()

    @staticmethod
    def _gone() -> FolderRecord:
        raise LibraryError(FOLDER_GONE, code="folder_not_found")

    # Archive and bulk actions -----------------------------------------------------------

    def archive(self, user_id: int, conversation_id: str, archived: bool = True) -> bool:
        return self._repository.set_archived(user_id, conversation_id, archived)

    def count_bulk(self, user_id: int, scope: BulkScope) -> int:
        """How many a bulk delete would remove, shown in its confirmation."""
        _check_scope(scope)
        return self._repository.count_matching(
            user_id, folder_id=scope.folder_id, before=scope.before
        )

    def count_bulk_archive(self, user_id: int, scope: BulkScope) -> int:
        """How many a bulk archive would hide (the ones archived already are not counted)."""
        _check_scope(scope)
        return self._repository.count_matching(
            user_id, folder_id=scope.folder_id, before=scope.before, archived=False
        )

    def archive_all(self, user_id: int, scope: BulkScope) -> int:
        _check_scope(scope)
        return self._repository.archive_matching(
            user_id, folder_id=scope.folder_id, before=scope.before
        )

    def delete_all(self, user_id: int, scope: BulkScope) -> int:
        _check_scope(scope)
        return self._repository.delete_matching(
            user_id, folder_id=scope.folder_id, before=scope.before
        )

    # Temporary chats --------------------------------------------------------------------

    def leave_temporary(self, user_id: int, conversation_id: str) -> bool:
        """Its owner opened something else: a temporary chat ends there."""
        return self._repository.delete_temporary(user_id, conversation_id)

    # Retention (administrators) and the sweep every process runs --------------------------

    def retention_days(self) -> int | None:
        return self._repository.retention_days()

    def retention_preview(self, admin: UserRecord, days: int) -> int:
        """How many conversations a retention of `days` would remove now, before it is set."""
        self._require_admin(admin)
        cutoff = datetime.now(UTC) - timedelta(days=_days(days))
        return self._repository.count_not_updated_since(cutoff)

    def set_retention(self, admin: UserRecord, days: int | None) -> int:
        """Set (or turn off, None) the retention period and apply it at once; returns how many
        conversations it removed."""
        self._require_admin(admin)
        if days is not None:
            _days(days)
        self._repository.set_retention_days(days)
        return self.sweep().retention_deleted

    def sweep(self) -> SweepResult:
        """Delete abandoned temporary chats and conversations past the retention period.
        Every process runs it now and then; running it twice at once deletes nothing twice."""
        now = datetime.now(UTC)
        temporary = self._repository.purge_temporary(now - self._temporary_lifetime)
        days = self._repository.retention_days()
        expired = (
            self._repository.delete_not_updated_since(now - timedelta(days=days)) if days else 0
        )
        if temporary or expired:
            log.info(
                "deleted %d abandoned temporary chat(s) and %d conversation(s) past retention",
                temporary,
                expired,
            )
        return SweepResult(temporary, expired)


@dataclass(frozen=True, slots=True)
class SweepResult:
    temporary_deleted: int
    retention_deleted: int


def _folder_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise LibraryError(N_("Give the folder a name."), code="folder_name_missing")
    if len(name) > FOLDER_NAME_MAX_CHARS:
        raise LibraryError(
            N_("Folder names are at most {limit} characters."),
            code="folder_name_too_long",
            limit=FOLDER_NAME_MAX_CHARS,
        )
    return name


def _check_scope(scope: BulkScope) -> None:
    if scope.folder_id is None and scope.before is None:
        raise LibraryError(N_("Choose a folder or a date first."), code="bulk_scope_missing")


def _days(days: int) -> int:
    if not 1 <= days <= RETENTION_MAX_DAYS:
        raise LibraryError(
            N_("The retention period is from 1 to {limit:,} days."),
            code="retention_days_invalid",
            limit=RETENTION_MAX_DAYS,
        )
    return days
