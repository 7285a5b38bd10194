"""An in-process message bus (cosmicpython style).

Commands go to exactly one handler and their result is returned; events raised
while handling are dispatched afterwards to every subscriber. Handlers are plain
functions ``handler(message, uow) -> result`` that the composition root binds.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from dipper.kernel.messages import Command, Event, Message

log = logging.getLogger(__name__)


class EventSource(Protocol):
    def collect_new_events(self) -> Iterable[Event]: ...


CommandHandler = Callable[[Any, Any], Any]
EventHandler = Callable[[Any, Any], None]


class MessageBus:
    def __init__(
        self,
        command_handlers: dict[type[Command], CommandHandler],
        event_handlers: dict[type[Event], list[EventHandler]],
    ) -> None:
        self.command_handlers = command_handlers
        self.event_handlers = event_handlers

    def handle(self, message: Message, uow: Any) -> Any:
        """Handle a command (returning its result) and then every event it caused."""
        queue: deque[Message] = deque([message])
        result: Any = None
        first = True
        while queue:
            current = queue.popleft()
            if isinstance(current, Command):
                handler = self.command_handlers.get(type(current))
                if handler is None:
                    raise LookupError(f"no handler for {type(current).__name__}")
                value = handler(current, uow)
                if first:
                    result = value
            elif isinstance(current, Event):
                for subscriber in self.event_handlers.get(type(current), []):
                    subscriber(current, uow)
            first = False
            collect = getattr(uow, "collect_new_events", None)
            if collect is not None:
                queue.extend(collect())
        return result
