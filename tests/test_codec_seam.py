"""The provider seam's framing hooks: ``ProviderCodec.accepts_binary`` and ``close_error``,
against a real local WebSocket server."""

from __future__ import annotations

import json
from typing import Optional

import pytest

from kernl_realtime import ConnectionClosedError, KernlRealtimeError, ProtocolError, ServerError
from kernl_realtime.providers import openai
from kernl_realtime.providers.openai import OpenAICodec
from servers import ScriptedServer, text_delta


class BinaryJsonCodec(OpenAICodec):
    accepts_binary = True


class QuotaCodec(OpenAICodec):
    def close_error(self, code: int, reason: str) -> Optional[KernlRealtimeError]:
        if code == 1008:
            return ServerError(f"quota exceeded: {reason}")
        return None


def model(server: ScriptedServer, codec: type) -> openai.OpenAIRealtimeModel:
    cls = type("SeamModel", (openai.OpenAIRealtimeModel,), {"codec_class": codec})
    return cls("gpt-realtime", api_key="sk-test-seam", base_url=server.base_url)


def test_binary_json_frames_are_a_protocol_error_by_default_and_the_next_event_arrives() -> None:
    with ScriptedServer() as srv:
        conn = openai.realtime("gpt-realtime", api_key="sk-test-seam", base_url=srv.base_url).connect(timeout=5)
        try:
            peer = srv.accept()
            assert conn.recv(timeout=5).kind == "session.created"
            peer.send(json.dumps(text_delta(1)).encode())
            peer.send(text_delta(2))
            with pytest.raises(ProtocolError, match="binary frame"):
                conn.recv(timeout=5)
            assert conn.recv(timeout=5).delta == "2"
        finally:
            conn.close(timeout=2)


def test_binary_json_frames_are_decoded_like_text_when_the_codec_accepts_them() -> None:
    with ScriptedServer() as srv:
        conn = model(srv, BinaryJsonCodec).connect(timeout=5)
        try:
            peer = srv.accept()
            assert conn.recv(timeout=5).kind == "session.created"
            peer.send(json.dumps(text_delta(1)).encode())
            peer.send(text_delta(2))
            assert [conn.recv(timeout=5).delta for _ in range(2)] == ["1", "2"]
        finally:
            conn.close(timeout=2)


def test_close_error_maps_a_server_close_to_the_codecs_error() -> None:
    with ScriptedServer() as srv:
        conn = model(srv, QuotaCodec).connect(timeout=5)
        try:
            peer = srv.accept()
            assert conn.recv(timeout=5).kind == "session.created"
            peer.close(1008, "over quota")
            with pytest.raises(ServerError, match="quota exceeded: over quota"):
                conn.recv(timeout=5)
            info = conn.close_info
            assert info is not None and info.initiator == "server" and info.code == 1008
            assert isinstance(info.error, ServerError)
        finally:
            conn.close(timeout=2)


def test_close_error_returning_none_keeps_the_core_classification() -> None:
    with ScriptedServer() as srv:
        conn = model(srv, QuotaCodec).connect(timeout=5)
        try:
            peer = srv.accept()
            assert conn.recv(timeout=5).kind == "session.created"
            peer.close(4000, "bye")
            with pytest.raises(ConnectionClosedError) as caught:
                conn.recv(timeout=5)
            assert caught.value.code == 4000
            info = conn.close_info
            assert info is not None and info.initiator == "server" and info.code == 4000
        finally:
            conn.close(timeout=2)


def test_default_codec_hooks() -> None:
    codec = OpenAICodec()
    assert codec.accepts_binary is False
    assert codec.close_error(1008, "x") is None
