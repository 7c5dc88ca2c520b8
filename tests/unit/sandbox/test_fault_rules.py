from __future__ import annotations

from orchestrator.config.sandbox_settings import FaultRule
from orchestrator.sandbox.faults import RequestFaults, droplet_has_fault


def _statuses(faults: RequestFaults, requests: list[tuple[str, str]]) -> list[int]:
    results = []
    for method, path in requests:
        error = faults.check(method, path)
        results.append(200 if error is None else error.status)
    return results


def test_after_and_times_select_the_failing_requests() -> None:
    faults = RequestFaults([FaultRule(kind="server_error", status=503, after=2, times=2)])

    assert _statuses(faults, [("GET", "/v2/account")] * 6) == [200, 200, 503, 503, 200, 200]


def test_method_and_path_narrow_a_rule() -> None:
    rule = FaultRule(
        kind="rate_limit", method="post|delete", path=r"^/v2/droplets(/\d+)?$", times=9
    )
    faults = RequestFaults([rule])

    assert _statuses(
        faults,
        [
            ("GET", "/v2/droplets"),
            ("POST", "/v2/droplets"),
            ("DELETE", "/v2/droplets/12"),
            ("DELETE", "/v2/droplets/12/actions"),
            ("POST", "/v2/tags"),
        ],
    ) == [200, 429, 429, 200, 200]


def test_a_rate_limit_answer_carries_retry_after() -> None:
    error = RequestFaults([FaultRule(kind="rate_limit", retry_after=9)]).check("GET", "/v2/sizes")

    assert error is not None
    assert error.headers == {"Retry-After": "9"}
    assert error.body() == {"id": "too_many_requests", "message": "API Rate limit exceeded."}


def test_every_matching_rule_counts_even_when_another_fires() -> None:
    faults = RequestFaults(
        [
            FaultRule(kind="server_error", times=1),
            FaultRule(kind="rate_limit", after=1, times=1),
        ]
    )

    assert _statuses(faults, [("GET", "/v2/account")] * 3) == [500, 429, 200]


def test_droplet_faults_match_names() -> None:
    rules = [FaultRule(kind="stuck_new", name="^build-arm"), FaultRule(kind="sshd_down", name="x")]

    assert droplet_has_fault(rules, "stuck_new", "build-arm64-deb")
    assert not droplet_has_fault(rules, "stuck_new", "build-amd64-deb")
    assert droplet_has_fault(rules, "sshd_down", "box")
    assert RequestFaults(rules).check("GET", "/v2/account") is None
