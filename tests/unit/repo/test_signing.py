from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.errors import SigningError
from orchestrator.repo.signing import check_key, parse_key_listing, signing_part

NOW = datetime(2026, 11, 22, tzinfo=UTC)
FPR = "F805487171D404A06B0BE11C4EDE4332A3CE73AC"
SUB = "0123456789ABCDEF0123456789ABCDEF01234567"


def _ts(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def listing(
    expires: datetime | None = None,
    validity: str = "u",
    hash_algo: int = 10,
    caps: str = "scSC",
    subkey: str = "",
) -> str:
    expiry = _ts(expires) if expires else ""
    return (
        f"pub:{validity}:3072:1:4EDE4332A3CE73AC:{_ts(NOW - timedelta(days=400))}:{expiry}::u:::{caps}::::::23::0:\n"
        f"fpr:::::::::{FPR}:\n"
        "uid:u::::1795343817::230162C5::Test <t@example.org>::::::::::0:\n"
        f"sig:::1:4EDE4332A3CE73AC:1795343817::::Test <t@example.org>:13x::{FPR}:::{hash_algo}:\n"
        + subkey
    )


def test_a_sound_key_passes() -> None:
    info = parse_key_listing(listing(expires=NOW + timedelta(days=365)))
    assert info.primary.fingerprint == FPR
    assert info.self_signature_hashes == [10]
    check_key(info, NOW)


def test_an_expired_key_is_refused() -> None:
    with pytest.raises(SigningError, match="expired on 2026-11-21"):
        check_key(parse_key_listing(listing(expires=NOW - timedelta(days=1))), NOW)


def test_a_key_expiring_within_two_weeks_is_refused() -> None:
    with pytest.raises(SigningError, match="within 14 days"):
        check_key(parse_key_listing(listing(expires=NOW + timedelta(days=13))), NOW)


def test_sha1_self_signatures_are_refused() -> None:
    with pytest.raises(SigningError, match="SHA-1"):
        check_key(parse_key_listing(listing(hash_algo=2)), NOW)


def test_a_revoked_key_is_refused() -> None:
    with pytest.raises(SigningError, match="revoked"):
        check_key(parse_key_listing(listing(validity="r")), NOW)


def test_the_signing_subkey_must_be_valid_too() -> None:
    expiring = _ts(NOW + timedelta(days=3))
    subkey = (
        f"sub:u:3072:1:0123456789ABCDEF:{_ts(NOW - timedelta(days=10))}:{expiring}:::::s::::::23:\n"
        f"fpr:::::::::{SUB}:\n"
        f"sig:::1:4EDE4332A3CE73AC:1795343817::::Test:18x::{FPR}:::10:\n"
    )
    info = parse_key_listing(listing(caps="cSC", subkey=subkey))
    assert [part.fingerprint for part in info.subkeys] == [SUB]
    with pytest.raises(SigningError, match=f"{SUB} expires"):
        check_key(info, NOW)


def test_a_certify_only_key_cannot_sign() -> None:
    with pytest.raises(SigningError, match="no signing-capable"):
        check_key(parse_key_listing(listing(caps="cC")), NOW)


def test_an_empty_listing_is_a_missing_key() -> None:
    with pytest.raises(SigningError, match="no public key"):
        parse_key_listing("")


def _secret(record: str, where: str) -> str:
    """A public-key record as --list-secret-keys shows it: sec/ssb, with field 15 set."""
    fields = record.replace("pub:", "sec:", 1).replace("sub:", "ssb:", 1).split(":")
    fields[14] = where
    return ":".join(fields)


def _subkey(created_days_ago: int, key_id: str = "0123456789ABCDEF") -> str:
    created = _ts(NOW - timedelta(days=created_days_ago))
    return f"sub:u:3072:1:{key_id}:{created}::::::s::::::23:\nfpr:::::::::{SUB}:\n"


def test_a_secret_listing_tells_where_each_secret_part_is() -> None:
    primary, *rest = listing(expires=NOW + timedelta(days=365)).splitlines(keepends=True)
    sub_line, fpr_line = _subkey(10).splitlines(keepends=True)
    colons = (
        _secret(primary, "+") + "".join(rest) + _secret(sub_line, "D2760001240103040006") + fpr_line
    )
    info = parse_key_listing(colons)
    assert info.primary.secret == "+"
    assert [part.secret for part in info.subkeys] == ["D2760001240103040006"]
    # The newest signing subkey signs, here one on a smartcard.
    assert signing_part(info, NOW) == info.subkeys[0]
    check_key(info, NOW)


def test_a_subkey_without_its_secret_part_does_not_sign() -> None:
    primary, *rest = listing(expires=NOW + timedelta(days=365)).splitlines(keepends=True)
    sub_line, fpr_line = _subkey(10).splitlines(keepends=True)
    colons = _secret(primary, "+") + "".join(rest) + _secret(sub_line, "#") + fpr_line
    info = parse_key_listing(colons)
    assert signing_part(info, NOW) == info.primary
    assert parse_key_listing(listing()).primary.secret == ""
