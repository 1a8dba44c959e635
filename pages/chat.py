"""Chat: talk to a model, with the conversation saved as it goes."""

from ui import chat_page
from ui.context import current_user, services

chat_page.render(services(), current_user())
