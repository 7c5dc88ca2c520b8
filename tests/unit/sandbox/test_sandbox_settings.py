from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.config.sandbox_settings import FaultRule, SandboxSettings


def test_defaults_are_valid() -> None:
    settings = SandboxSettings()

    assert settings.state_dir == Path(".orchestrator/sandbox")
    assert (settings.api_host, settings.api_port, settings.ssh_port) == ("127.0.0.1", 8757, 22)
    assert settings.faults == []
    assert (settings.address_pool, settings.private_address_pool) == (
        "127.77.0.0/24",
        "127.75.0.0/24",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("api_host", "10.0.0.1", "outside 127.0.0.0/8"),
        ("api_host", "localhost", "must be an IPv4 address"),
        ("address_pool", "10.1.0.0/24", "outside 127.0.0.0/8"),
        ("address_pool", "127.5.0.1/24", "must be a network"),
        ("address_pool", "127.5.0.0/31", "too small"),
        ("private_address_pool", "10.1.0.0/24", "private_address_pool 10.1.0.0/24 is outside"),
        ("private_address_pool", "127.5.0.1/24", "private_address_pool '127.5.0.1/24' must be"),
        ("private_address_pool", "127.5.0.0/31", "private_address_pool 127.5.0.0/31 is too small"),
        ("api_port", 70000, "less than or equal to 65535"),
        ("boot_delay", -1, "greater than or equal to 0"),
        ("surprise", 1, "Extra inputs are not permitted"),
    ],
)
def test_invalid_settings_say_why(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SandboxSettings.model_validate({field: value})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"private_address_pool": "127.77.0.128/25"}, "overlaps address_pool 127.77.0.0/24"),
        ({"address_pool": "127.74.0.0/15"}, "overlaps address_pool 127.74.0.0/15"),
        ({"repo_server_address": "127.75.0.9"}, "inside private_address_pool 127.75.0.0/24"),
        ({"engine_address": "127.75.0.1"}, "inside private_address_pool"),
        ({"registry_address": "127.77.0.1"}, "inside address_pool"),
    ],
)
def test_the_pools_keep_apart_from_each_other_and_the_services(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        SandboxSettings.model_validate(values)


def test_state_may_live_under_tmp() -> None:
    # Hosts see their directory through a mount made before their private /tmp covers it.
    assert SandboxSettings(state_dir=Path("/tmp/sandbox")).state_dir == Path("/tmp/sandbox")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"kind": "stuck_new"}, "needs 'name'"),
        ({"kind": "no_private_address"}, "needs 'name'"),
        ({"kind": "no_private_address", "name": "x", "status": 503}, "does not take status"),
        ({"kind": "rate_limit", "name": "x"}, "does not take name"),
        ({"kind": "sshd_down", "name": "x", "times": 3}, "does not take times"),
        ({"kind": "server_error", "status": 502}, "Input should be 500 or 503"),
        ({"kind": "server_error", "path": "("}, "not a valid regular expression"),
        ({"kind": "rate_limit", "times": 0}, "greater than or equal to 1"),
        ({"kind": "flood"}, "Input should be"),
        ({"kind": "rate_limit", "retries": 2}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_fault_rules(rule: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FaultRule.model_validate(rule)


def test_fault_rules_survive_a_round_trip_through_json() -> None:
    settings = SandboxSettings(
        faults=[
            FaultRule(kind="rate_limit", path="^/v2/droplets$", retry_after=3),
            FaultRule(kind="server_error", status=503, times=2),
            FaultRule(kind="sshd_down", name="^web-"),
            FaultRule(kind="no_private_address", name="^legacy-"),
        ]
    )

    assert SandboxSettings.model_validate_json(settings.model_dump_json()) == settings
