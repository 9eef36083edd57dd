"""The simulator's HTTP front end: request heads, JSON responses and the REST endpoints.

Every TCP connection starts here: its request head is parsed by :func:`parse_head`; a
WebSocket upgrade goes on to :mod:`._websocket`, anything else is a REST request answered
by :class:`RestEndpoints` (the OpenAI/xAI client-secret endpoints and Gemini's auth
tokens; ElevenLabs' signed URLs are answered by its own front).
"""

from __future__ import annotations

import asyncio
import http
import json
import secrets
from typing import Any, Dict, List, Optional, Tuple

from ._auth import AuthError, Authenticator, bearer, redact
from ._dialect import ClientError, Dialect, SessionContext
from ._gemini_front import GeminiFront

__all__ = [
    "HEAD_LIMIT",
    "IO_TIMEOUT",
    "MAX_BODY",
    "REST_PATHS",
    "RestEndpoints",
    "error_body",
    "parse_head",
    "redacted_headers",
    "write_http",
]

REST_PATHS = {"/v1/realtime/client_secrets": "openai",
              "/xai/v1/realtime/client_secrets": "xai"}
HEAD_LIMIT = 64 * 1024
"""Largest request head accepted (larger ones get 431)."""
MAX_BODY = 1024 * 1024
"""Largest REST request body accepted (larger ones get 413)."""
IO_TIMEOUT = 10.0
"""Seconds a peer gets to send its request or take our response."""


def parse_head(head: bytes) -> Optional[Tuple[str, str, Dict[str, List[str]]]]:
    """Split an HTTP/1.x request head into method, target and lower-cased headers.

    Returns:
        ``(method, target, headers)``, or ``None`` if the head is malformed.
    """
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers: Dict[str, List[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            return None
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return parts[0], parts[1], headers


def redacted_headers(headers: Dict[str, List[str]]) -> Dict[str, str]:
    """Join each header's values, with bearer tokens and subprotocol secrets redacted."""
    out: Dict[str, str] = {}
    for name, values in headers.items():
        if name == "authorization":
            out[name] = ", ".join(
                f"Bearer {redact(v.partition(' ')[2].strip())}" for v in values)
        elif name == "sec-websocket-protocol":
            protos = []
            for value in values:
                for proto in (p.strip() for p in value.split(",")):
                    head, dot, secret = proto.partition(".")
                    protos.append(f"{head}.{redact(secret)}" if dot and secret else proto)
            out[name] = ", ".join(protos)
        else:
            out[name] = ", ".join(values)
    return out


def error_body(message: str, code: Optional[str] = None,
               type_: str = "invalid_request_error", param: Optional[str] = None
               ) -> Dict[str, Any]:
    """An OpenAI-shaped JSON error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


async def write_http(writer: asyncio.StreamWriter, status: int, body: Dict[str, Any],
                     extra: Tuple[Tuple[str, str], ...] = ()) -> None:
    """Write a complete JSON response (``Connection: close``); a stuck peer is given up on."""
    data = json.dumps(body).encode("utf-8")
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
             "Content-Type: application/json",
             f"Content-Length: {len(data)}",
             "Connection: close"]
    lines.extend(f"{k}: {v}" for k, v in extra)
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
    try:
        await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass


class RestEndpoints:
    """The POST endpoints: OpenAI/xAI client secrets and Gemini auth tokens.

    Runs on the simulator's loop thread only.

    Args:
        auth: Checks API keys and mints client secrets.
        dialects: The OpenAI-style dialects by name (``openai``, ``xai``).
        gemini: The Gemini front, which answers its own token endpoint.
    """

    def __init__(self, auth: Authenticator, dialects: Dict[str, Dialect],
                 gemini: GeminiFront) -> None:
        self._auth = auth
        self._dialects = dialects
        self._gemini = gemini

    async def handle(self, method: str, path: str, headers: Dict[str, List[str]],
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     query: str = "") -> None:
        """Read the request body and write the response (404/405/411/413 as a server would)."""
        dialect_name = REST_PATHS.get(path) or ("google" if self._gemini.owns_rest(path) else None)
        if dialect_name is None:
            await write_http(writer, 404, error_body(f"Invalid URL ({method} {path})"))
            return
        if method != "POST":
            await write_http(writer, 405, error_body(f"Invalid method for URL ({method} "
                                                     f"{path})"), (("Allow", "POST"),))
            return
        if "transfer-encoding" in headers:
            await write_http(writer, 411, error_body("Content-Length is required."))
            return
        try:
            length = int((headers.get("content-length") or ["0"])[0])
        except ValueError:
            length = -1
        if length < 0:
            await write_http(writer, 400, error_body("Invalid Content-Length."))
            return
        if length > MAX_BODY:
            await write_http(writer, 413, error_body("Request body too large."))
            return
        try:
            body = await asyncio.wait_for(reader.readexactly(length), IO_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
            return
        if dialect_name == "google":
            status, payload = self._gemini.rest(path, headers, query, body)
        else:
            status, payload = self._client_secret(dialect_name, headers, body)
        await write_http(writer, status, payload)

    def _client_secret(self, dialect_name: str, headers: Dict[str, List[str]],
                       body: bytes) -> Tuple[int, Dict[str, Any]]:
        try:
            self._auth.check_api_key(bearer(headers))
        except AuthError as exc:
            return 401, self._auth.error_body(exc)
        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (UnicodeDecodeError, ValueError):
            return 400, error_body(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)", code="invalid_json")
        dialect = self._dialects[dialect_name]
        ctx = SessionContext(session_id=f"sess_{secrets.token_hex(8)}", conversation_id="",
                             model=dialect.default_model, expires_at=0)
        try:
            request = dialect.parse_secret_request(data, ctx)
        except ClientError as exc:
            return 400, {"error": exc.body(with_event_id=False)}
        token = self._auth.mint(dialect_name, request.seconds, request.config, request.model)
        ctx.expires_at = int(token.expires_at)
        return 200, dialect.secret_response(token.value, int(token.expires_at), request, ctx)
