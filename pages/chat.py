"""Chat: talk to a model, with the conversation saved as it goes."""

from ui import chat_page
from ui.auth import signed_in_user
from ui.context import services

chat_page.render(services(), signed_in_user(services()))
