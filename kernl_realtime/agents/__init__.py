"""The agent layer: agents with Python tools in live voice sessions.

* :class:`RealtimeAgent` — instructions, tools, voice.
* :func:`tool` / :class:`Tool` / :class:`Toolkit` — Python functions the model can call.
* :class:`RealtimeSession` — one live conversation: ``connect()``/``with``, ``ask()``,
  audio through a :class:`RealtimeChannel`, callbacks and pull, tools run by themselves.
"""

from ._agent import RealtimeAgent
from ._audio import Resampler
from ._channel import ChannelSink, RealtimeChannel
from ._emitter import set_unhandled_error_hook
from ._schema import ArgumentError
from ._session import RealtimeSession
from ._tools import Tool, Toolkit, tool
from ._turns import SessionUsage, ToolCallRecord, Turn

__all__ = [
    "ArgumentError",
    "ChannelSink",
    "RealtimeAgent",
    "RealtimeChannel",
    "RealtimeSession",
    "Resampler",
    "SessionUsage",
    "Tool",
    "ToolCallRecord",
    "Toolkit",
    "Turn",
    "set_unhandled_error_hook",
    "tool",
]

# The names also exported by the package root report it as their module (reprs, docs,
# pickles). None of them is introspected with typing.get_type_hints, which would need
# the defining module.
for _name in ("RealtimeAgent", "RealtimeSession", "SessionUsage", "Tool", "ToolCallRecord", "Toolkit", "Turn", "tool"):
    globals()[_name].__module__ = "kernl_realtime"
del _name
