"""Voice input: a recording from the chat input, transcribed by the server's OpenAI-compatible
/audio/transcriptions into text the person reviews before sending.

Whether the server has that endpoint is learnt from its answers: a 404, 405 or 501 hides the
microphone for a while (MISSING_SECONDS), after which it is offered again, so an endpoint an
operator adds is found without a restart. At start the process asks once with an empty request
(`probe`): no audio is sent, so nothing is transcribed or paid for, and a server that has the
endpoint refuses the empty request for what it lacks rather than answering "not found".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from chatcore.chat.use_cases import RequestPolicy
from chatcore.config import Settings
from chatcore.errors import ChatInputError
from chatcore.i18n import N_

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger(__name__)

MISSING_SECONDS = 600.0
TRANSCRIPTION_TIMEOUT = 60.0
PROBE_TIMEOUT = 5.0
OFF = "off"
NO_ENDPOINT_STATUSES = (404, 405, 501)


class Transcriber:
    def __init__(
        self,
        settings: Settings,
        client: Callable[[str | None], OpenAI],
        policy: RequestPolicy,
    ) -> None:
        self._model = settings.transcription_model
        self._max_bytes = int(settings.attach_max_file_mb * 1024 * 1024)
        self._client = client
        self._policy = policy
        self._lock = threading.Lock()
        self._missing_until = 0.0

    def offered(self) -> bool:
        """Whether pages offer the microphone: configured, and not refused lately."""
        if self._model.lower() == OFF:
            return False
        with self._lock:
            return time.monotonic() >= self._missing_until

    def probe(self) -> None:
        """Learn, without sending audio, whether the server has the endpoint at all."""
        if self._model.lower() == OFF:
            return
        import openai

        try:
            client = self._client(None).with_options(timeout=PROBE_TIMEOUT, max_retries=0)
            client.post("/audio/transcriptions", cast_to=object, body={})
        except openai.APIStatusError as error:
            if error.status_code in NO_ENDPOINT_STATUSES:
                self._mark_missing()
        except Exception as error:  # no key, no network: the first recording will tell
            log.info("could not probe /audio/transcriptions: %s", type(error).__name__)

    def _mark_missing(self) -> None:
        with self._lock:
            self._missing_until = time.monotonic() + MISSING_SECONDS

    def transcribe(self, user_id: int, audio: bytes, filename: str, media_type: str) -> str:
        """The recording's words. Admitted like a message (an account, a quota, a key): a
        transcription is a paid request too."""
        if not audio:
            raise ChatInputError(N_("The recording is empty."), code="recording_empty")
        if len(audio) > self._max_bytes:
            raise ChatInputError(
                N_("The recording is {size:.1f} MB; the limit is {limit:.1f} MB."),
                code="recording_too_large",
                size=len(audio) / 1024 / 1024,
                limit=self._max_bytes / 1024 / 1024,
            )
        api_key = self._policy.admit(user_id)
        import openai  # deferred: only a recording needs it

        client = self._client(api_key).with_options(timeout=TRANSCRIPTION_TIMEOUT, max_retries=0)
        try:
            result = client.audio.transcriptions.create(
                model=self._model, file=(filename, audio, media_type)
            )
        except openai.APIStatusError as error:
            if error.status_code in NO_ENDPOINT_STATUSES:
                self._mark_missing()
                raise ChatInputError(
                    N_(
                        "The server has no speech-to-text service, so the microphone is "
                        "turned off. Type your message instead."
                    ),
                    code="transcription_unavailable",
                ) from None
            raise ChatInputError(
                N_("Could not transcribe the recording (HTTP {status}). Try again or type it."),
                code="transcription_failed",
                status=error.status_code,
            ) from None
        except openai.APIError as error:
            log.warning("transcription failed: %s", type(error).__name__)
            raise ChatInputError(
                N_("Could not reach the speech-to-text service. Try again or type your message."),
                code="transcription_unreachable",
            ) from None
        text = (getattr(result, "text", "") or "").strip()
        if not text:
            raise ChatInputError(
                N_("No words were heard in the recording."), code="recording_silent"
            )
        return text
