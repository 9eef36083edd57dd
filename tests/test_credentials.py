"""ClientCredential: validation, kernl's JSON form, expiry and secret redaction."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Dict

import pytest

from kernl_realtime.exceptions import ConfigurationError
from kernl_realtime.protocol import ClientCredential, RealtimeConnectOptions

NEW_YEAR = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_token_json_matches_kernl_endpoint_shape() -> None:
    credential = ClientCredential.from_token("t", NEW_YEAR)
    assert credential.to_dict() == {"kind": "token", "token": "t", "expiresAt": "2026-01-01T00:00:00+00:00"}
    assert credential.to_json() == '{"kind":"token","token":"t","expiresAt":"2026-01-01T00:00:00+00:00"}'


def test_url_json_matches_kernl_endpoint_shape() -> None:
    credential = ClientCredential.from_url("wss://h/x?sig=1", NEW_YEAR)
    assert json.loads(credential.to_json()) == {
        "kind": "url",
        "url": "wss://h/x?sig=1",
        "expiresAt": "2026-01-01T00:00:00+00:00",
    }


@pytest.mark.parametrize(
    "credential",
    [
        ClientCredential.from_token("ek_abc", NEW_YEAR + timedelta(microseconds=123456)),
        ClientCredential.from_url("wss://example.com/v1/convai?token=s3cr3t", NEW_YEAR),
    ],
    ids=["token", "url"],
)
def test_json_round_trip(credential: ClientCredential) -> None:
    assert ClientCredential.from_json(credential.to_json()) == credential
    assert ClientCredential.from_dict(credential.to_dict()) == credential


@pytest.mark.parametrize(
    "expires_at",
    [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00.000Z",  # JavaScript Date.toISOString()
        "2026-01-01T00:00:00.000000000z",
        "2026-01-01T02:00:00+02:00",
        "2025-12-31T19:00:00-0500",
        1767225600,
        1767225600.0,
        NEW_YEAR,
    ],
)
def test_expiry_formats_are_parsed(expires_at: Any) -> None:
    credential = ClientCredential.from_dict({"kind": "token", "token": "t", "expiresAt": expires_at})
    assert credential.expires_at == NEW_YEAR
    assert credential.expires_at.utcoffset() == timedelta(0)


def test_endpoint_wrapper_and_snake_case_key_are_accepted() -> None:
    body = '{"credential": {"kind": "token", "token": "t", "expiresAt": "2026-01-01T00:00:00Z"}}'
    assert ClientCredential.from_json(body) == ClientCredential.from_token("t", NEW_YEAR)
    snake = {"kind": "url", "url": "wss://h/", "expires_at": "2026-01-01T00:00:00+00:00"}
    assert ClientCredential.from_dict(snake) == ClientCredential.from_url("wss://h/", NEW_YEAR)


def test_expires_at_is_stored_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    credential = ClientCredential.from_token("t", datetime(2026, 1, 1, 2, tzinfo=plus_two))
    assert credential.expires_at.tzinfo == timezone.utc
    assert credential.expires_at == NEW_YEAR


def test_expired_and_expires_in() -> None:
    fresh = ClientCredential.from_token("t", datetime.now(timezone.utc) + timedelta(minutes=5))
    stale = ClientCredential.from_token("t", datetime.now(timezone.utc) - timedelta(seconds=30))
    assert not fresh.expired
    assert 290 < fresh.expires_in <= 300
    assert stale.expired
    assert -40 < stale.expires_in < -29


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: ClientCredential.from_token("t", datetime(2026, 1, 1)), "expires_at"),
        (lambda: ClientCredential(kind="token", expires_at=NEW_YEAR), "token"),
        (lambda: ClientCredential(kind="url", expires_at=NEW_YEAR, token="t"), "url"),
        (lambda: ClientCredential(kind="token", expires_at=NEW_YEAR, token="t", url="wss://h"), "url"),
        (lambda: ClientCredential(kind="bearer", expires_at=NEW_YEAR, token="t"), "kind"),  # type: ignore[arg-type]
        (lambda: ClientCredential.from_token("", NEW_YEAR), "token"),
        (lambda: ClientCredential.from_token(123, NEW_YEAR), "token"),  # type: ignore[arg-type]
        (lambda: ClientCredential.from_token("t", "2026-01-01"), "expires_at"),  # type: ignore[arg-type]
    ],
    ids=["naive", "token-missing", "url-missing", "both", "bad-kind", "empty-token", "int-token", "str-expiry"],
)
def test_invalid_credentials_name_the_field(build: Any, field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build()
    assert caught.value.field == field
    assert field in str(caught.value)


@pytest.mark.parametrize(
    "data, field",
    [
        ({"kind": "token", "token": "t"}, "expires_at"),
        ({"kind": "token", "token": "t", "expiresAt": "2026-01-01T00:00:00"}, "expires_at"),  # naive
        ({"kind": "token", "token": "t", "expiresAt": "next tuesday"}, "expires_at"),
        ({"kind": "token", "token": "t", "expiresAt": True}, "expires_at"),
        ({"kind": "token", "token": "t", "expiresAt": 1e20}, "expires_at"),
        ({"token": "t", "expiresAt": "2026-01-01T00:00:00Z"}, "kind"),
        ({"kind": "url", "token": "t", "expiresAt": "2026-01-01T00:00:00Z"}, "url"),
        ({"credential": {"kind": "token", "expiresAt": "2026-01-01T00:00:00Z"}}, "token"),
    ],
)
def test_from_dict_errors_name_the_field(data: Dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ClientCredential.from_dict(data)
    assert caught.value.field == field


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"credential": "x"}'])
def test_from_json_rejects_malformed_input(text: str) -> None:
    with pytest.raises(ConfigurationError):
        ClientCredential.from_json(text)


def test_repr_and_str_hide_the_token() -> None:
    credential = ClientCredential.from_token("ek_SUPERSECRET", NEW_YEAR)
    for text in (repr(credential), str(credential), repr(RealtimeConnectOptions(credential=credential))):
        assert "SUPERSECRET" not in text
        assert "token='***'" in text
    assert repr(credential) == "ClientCredential(kind='token', token='***', expires_at='2026-01-01T00:00:00+00:00')"


def test_repr_reduces_urls_to_scheme_host_and_path() -> None:
    credential = ClientCredential.from_url("wss://user:pw@api.example.com:8443/v1/convai?signature=SIG#frag", NEW_YEAR)
    text = repr(credential)
    for secret in ("SIG", "signature", "user", "pw", "frag"):
        assert secret not in text
    assert "url='wss://api.example.com:8443/v1/convai?***'" in text
    assert "SIG" not in str(credential)


def test_repr_of_an_unparseable_url_hides_it_entirely() -> None:
    credential = ClientCredential.from_url("s3cr3t-not-a-url", NEW_YEAR)
    assert "s3cr3t" not in repr(credential)
