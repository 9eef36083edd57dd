"""The simulator's conversation engine without a socket: client messages in, server events
out, on a private event loop. (tests/test_simulator.py drives the whole server.)"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Dict, List

from kernl_realtime.simulator._dialect import SessionContext
from kernl_realtime.simulator._engine import EngineOptions, SessionEngine, Transport
from kernl_realtime.simulator._openai import OpenAIDialect
from kernl_realtime.simulator._record import SessionRecord
from kernl_realtime.simulator._xai import XaiDialect


class ListTransport(Transport):
    """Collects what the engine sends; the test awaits ``until(type)``."""

    def __init__(self) -> None:
        self.sent: List[Dict[str, Any]] = []
        self.closed_with: Any = None
        self._arrived = asyncio.Event()

    def send_json(self, event: Dict[str, Any]) -> None:
        self.sent.append(json.loads(json.dumps(event)))  # what a peer would decode
        self._arrived.set()

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)
        self.closed = True

    def types(self) -> List[str]:
        return [event["type"] for event in self.sent]

    async def until(self, type_: str, timeout: float = 5.0) -> Dict[str, Any]:
        async def wait() -> Dict[str, Any]:
            while True:
                for event in self.sent:
                    if event["type"] == type_:
                        return event
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(wait(), timeout)


def run_session(dialect: Any, script: Any) -> ListTransport:
    """Open an engine for ``dialect`` and run ``await script(engine, transport)``."""

    async def main() -> ListTransport:
        transport = ListTransport()
        ctx = SessionContext(session_id="sess_1", conversation_id="conv_1", model=dialect.default_model, expires_at=0)
        options = EngineOptions(speed=0, clock=lambda: 1_700_000_000.0, ping_interval=0, max_session_seconds=0)
        record = SessionRecord(0, {}, threading.Condition(threading.RLock()), True)
        engine = SessionEngine(dialect, transport, ctx, options, record)
        engine.open()
        try:
            await script(engine, transport)
        finally:
            engine.shutdown()
        return transport

    return asyncio.run(main())


def send(engine: SessionEngine, **message: Any) -> None:
    engine.handle_text(json.dumps(message))


def test_opening_announces_the_session_and_session_update_is_confirmed() -> None:
    async def script(engine: SessionEngine, transport: ListTransport) -> None:
        send(engine, type="session.update", session={"type": "realtime", "instructions": "Be brief."})
        updated = await transport.until("session.updated")
        assert updated["session"]["instructions"] == "Be brief."

    transport = run_session(OpenAIDialect(), script)
    assert transport.types()[0] == "session.created"
    assert transport.sent[0]["session"]["id"] == "sess_1"


def test_a_text_turn_streams_one_response_and_finishes_it_exactly_once() -> None:
    async def script(engine: SessionEngine, transport: ListTransport) -> None:
        send(engine, type="conversation.item.create",
             item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hi"}]})
        send(engine, type="response.create", response={"output_modalities": ["text"]})
        done = await transport.until("response.done")
        assert done["response"]["status"] == "completed"

    transport = run_session(OpenAIDialect(), script)
    types = transport.types()
    assert types.count("response.created") == 1 and types.count("response.done") == 1
    assert types.index("conversation.item.added") < types.index("response.created") < types.index("response.done")
    assert "response.output_text.delta" in types


def test_cancel_finishes_the_active_response_as_cancelled() -> None:
    async def script(engine: SessionEngine, transport: ListTransport) -> None:
        send(engine, type="conversation.item.create",
             item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Tell a long story"}]})
        send(engine, type="response.create")
        await transport.until("response.created")
        send(engine, type="response.cancel")
        done = await transport.until("response.done")
        assert done["response"]["status"] == "cancelled"

    types = run_session(OpenAIDialect(), script).types()
    assert types.count("response.done") == 1


def test_bad_client_messages_get_errors_and_the_session_goes_on() -> None:
    async def script(engine: SessionEngine, transport: ListTransport) -> None:
        engine.handle_text("{not json")
        send(engine, type="no.such.event")
        send(engine, type="session.update", session={"type": "realtime", "instructions": "still here"})
        await transport.until("session.updated")

    transport = run_session(OpenAIDialect(), script)
    errors = [event["error"] for event in transport.sent if event["type"] == "error"]
    assert [error["code"] for error in errors] == ["invalid_json", "invalid_value"]
    assert "no.such.event" in errors[1]["message"]
    assert transport.closed_with is None


def test_the_xai_dialect_speaks_through_the_same_engine() -> None:
    async def script(engine: SessionEngine, transport: ListTransport) -> None:
        send(engine, type="session.update", session={"instructions": "Be brief."})
        await transport.until("session.updated")

    transport = run_session(XaiDialect(), script)
    assert "session.updated" in transport.types()
