"""The checks that tie environments to the rest of the inventory, and their paths made absolute.

An environment may only install packages the project builds, from channels it publishes
(or run an image the project builds, from its registry),
be promoted from an environment that exists without forming a cycle, and name a host no
other environment names; its health check must be a template that renders, and in the
sandbox an HTTP check must stay on this machine. Each problem is a ValueError naming the
key path, which the inventory reports with the file.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config.environments import (
    Environment,
    HealthCheck,
    HttpCheck,
    ServerHost,
    TaggedHosts,
    health_variables,
)
from orchestrator.config.schema import SANDBOX_HOST_KEY, is_loopback_ipv4
from orchestrator.config.templating import render_template
from orchestrator.errors import InventoryError

HEALTH_VARIABLES = ("host", "address", "version", "package_version", "environment")
# What a sandbox health check is rendered with where the real value is not known at load:
# a release version, and a droplet's address (a name no URL would hold by chance).
SAMPLE_VERSION = "1.0.0"
DROPLET_ADDRESS = "droplet-address.invalid"


@dataclass(frozen=True)
class Surroundings:
    """What of the rest of the inventory the environments are checked against."""

    sandbox: bool
    channels: tuple[str, ...]
    packages: tuple[str, ...]
    registry: bool
    # Each image repository the targets build, with the architectures they build it for.
    images: dict[str, tuple[str, ...]]


def check_environments(environments: list[Environment], around: Surroundings) -> None:
    """ValueError naming the first environment key that does not fit the inventory."""
    names = [e.name for e in environments]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"duplicate environments names: {', '.join(twice)}")
    seen: dict[str, str] = {}
    endpoints: dict[tuple[str, int], str] = {}
    for index, environment in enumerate(environments):
        where = f"environments[{index}]"
        for number, host in enumerate(environment.listed_hosts):
            if host.name in seen:
                raise ValueError(
                    f"{where}.hosts[{number}]: host {host.name!r} is already a host of "
                    f"environment {seen[host.name]!r}; a host belongs to one environment"
                )
            # One server under two names would be deployed by two locks at once.
            endpoint = (host.address, host.port)
            if endpoint in endpoints:
                raise ValueError(
                    f"{where}.hosts[{number}]: {host.address}:{host.port} is already host "
                    f"{endpoints[endpoint]!r}; a server is listed once"
                )
            seen[host.name] = environment.name
            endpoints[endpoint] = host.name
            if host.host_key == SANDBOX_HOST_KEY and not around.sandbox:
                raise ValueError(
                    f"{where}.hosts[{number}]: host_key 'sandbox' needs cloud.sandbox; pin "
                    "the server's real key instead"
                )
        _check_upstream(environments, index)
        _check_same_kind(environments, index)
        stray = sorted(set(environment.channels) - set(around.channels))
        if stray:
            raise ValueError(
                f"{where}.channels: {', '.join(stray)} is not among repositories.channels "
                f"({', '.join(around.channels)})"
            )
        unknown = sorted(set(environment.packages) - set(around.packages))
        if unknown:
            raise ValueError(
                f"{where}.packages: {', '.join(unknown)} is not built by any target (they "
                f"build {', '.join(around.packages)}); deploy only the project's packages"
            )
        if environment.compose is not None:
            _check_compose(around, environment, where)
        _check_services_upstream(environments, index)
        checks = [(environment.health, f"{where}.health")] + [
            (service.health, f"{where}.services[{number}].health")
            for number, service in enumerate(environment.services)
        ]
        for health, at in checks:
            if health is None:
                continue
            _check_health(health, at)
            if around.sandbox and health.http is not None:
                _check_sandbox_url(environment, health.http, f"{at}.http.url")


def _check_compose(around: Surroundings, environment: Environment, where: str) -> None:
    compose = environment.compose
    assert compose is not None
    if not around.registry and any(s.registry is None for s in environment.image_services):
        raise ValueError(
            f"{where}.compose: a compose environment pulls from the registry: add 'registry'"
        )
    built = sorted(around.images)
    if compose.image is not None and compose.image not in built:
        raise ValueError(
            f"{where}.compose.image: {compose.image!r} is not built by any image target (they "
            f"build {', '.join(built) or 'none'}); deploy only the project's images, or list "
            "a third party's under services"
        )
    for service in environment.image_services:
        if service.registry is not None or service.image not in around.images:
            continue  # a third party's image: its own tags, its own platforms
        arches = sorted(around.images[service.image])
        if environment.arch not in arches:
            raise ValueError(
                f"{where}.arch: {service.image!r} is built for {', '.join(arches)}, not "
                f"{environment.arch}; set the hosts' arch, or add an image target for it"
            )


def _check_services_upstream(environments: list[Environment], index: int) -> None:
    """ValueError unless an environment of services runs only what its upstream runs.

    A promotion carries the versions upstream proved: each service must run there, with
    the same image.
    """
    environment = environments[index]
    upstream = next((e for e in environments if e.name == environment.upstream), None)
    if upstream is None or environment.compose is None:
        return
    theirs = {s.name: s.image for s in upstream.image_services}
    for service in environment.image_services:
        if theirs.get(service.name) != service.image:
            raise ValueError(
                f"environments[{index}]: service {service.name!r} ({service.image}) does not "
                f"run in {upstream.name!r}, which it is promoted from: a promotion carries "
                "what upstream proved"
            )


def _check_same_kind(environments: list[Environment], index: int) -> None:
    by_name = {e.name: e for e in environments}
    environment = environments[index]
    upstream = by_name.get(environment.upstream or "")
    if upstream is not None and upstream.kind != environment.kind:
        raise ValueError(
            f"environments[{index}].from: {upstream.name!r} is a {upstream.kind} environment "
            f"and {environment.name!r} a {environment.kind} one; what one proved healthy is "
            "not what the other would run"
        )


def _check_upstream(environments: list[Environment], index: int) -> None:
    by_name = {e.name: e for e in environments}
    environment = environments[index]
    if environment.upstream is None:
        return
    if environment.upstream not in by_name:
        raise ValueError(
            f"environments[{index}].from: no environment is called {environment.upstream!r} "
            f"(there are {', '.join(by_name)})"
        )
    chain = [environment.name]
    current: Environment | None = by_name[environment.upstream]
    while current is not None:
        if current.name in chain:
            raise ValueError(
                f"environments[{index}].from: promotion forms a cycle: "
                + " <- ".join([*chain, current.name])
            )
        chain.append(current.name)
        current = by_name.get(current.upstream) if current.upstream else None


def _check_health(health: HealthCheck, where: str) -> None:
    sample = {name: "x" for name in HEALTH_VARIABLES}
    try:
        if health.http is not None:
            render_template(health.http.url, sample, f"{where}.http.url", "a health check")
            if health.http.contains is not None:
                render_template(
                    health.http.contains, sample, f"{where}.http.contains", "a health check"
                )
        if health.command is not None:
            render_template(health.command, sample, f"{where}.command", "a health check")
    except InventoryError as error:
        raise ValueError(str(error)) from None


def _check_sandbox_url(environment: Environment, http: HttpCheck, where: str) -> None:
    """ValueError unless the check's URL, rendered for each host, is on 127.0.0.0/8.

    The sandbox reaches nothing off this machine. A listed host's URL is rendered with its
    own address; a droplet's address is known only at deploy time, so there the URL's host
    must be ``{{ address }}`` itself (a sandbox droplet's address is a loopback one) or a
    loopback address written out.
    """
    if isinstance(environment.hosts, TaggedHosts):
        hosts = [("a droplet", DROPLET_ADDRESS)]
    else:
        hosts = [(h.name, h.address) for h in environment.hosts]
    for host, address in hosts:
        variables = health_variables(host, address, SAMPLE_VERSION, environment.name)
        try:
            url = render_template(http.url, variables, where, "a health check")
            name = urllib.parse.urlsplit(url).hostname or ""
        except InventoryError as error:
            raise ValueError(str(error)) from None
        except ValueError:  # not a URL at all (an unclosed [ of an IPv6 address)
            name = ""
        droplet = address == DROPLET_ADDRESS
        if not (is_loopback_ipv4(name) or (droplet and name == DROPLET_ADDRESS)):
            shown = http.url if droplet else url
            raise ValueError(
                f"{where}: in the sandbox a health check stays on this machine (an address "
                f"in 127.0.0.0/8, or {{{{ address }}}}), but for {host} it would GET "
                f"{shown[:200]!r}"
            )


def resolved_environment(
    environment: Environment, absolute: Callable[[Path | None], Path | None]
) -> Environment:
    """``environment`` with its key files made absolute by ``absolute``."""
    hosts: list[ServerHost] | TaggedHosts
    if isinstance(environment.hosts, TaggedHosts):
        tagged = environment.hosts
        hosts = tagged.model_copy(
            update={
                "known_hosts": absolute(tagged.known_hosts),
                "identity_file": absolute(tagged.identity_file),
            }
        )
    else:
        hosts = [
            h.model_copy(update={"identity_file": absolute(h.identity_file)})
            for h in environment.hosts
        ]
    return environment.model_copy(update={"hosts": hosts})
