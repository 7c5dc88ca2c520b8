"""Reading an environment's hosts: one round trip each, all at once, before anything changes.

Every deploy, promotion, rollback and ``env.status`` starts here: connect to each host with
its pinned key and run the inspection (what it runs, its units, its records). A host key mismatch is
refused before any host is changed; a host that cannot be read is an error naming it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.commands import deploy as commands
from orchestrator.commands.deploy import HostFiles, host_files
from orchestrator.deploy.hosts import HostShell
from orchestrator.deploy.hoststate import HostState
from orchestrator.deploy.ledger import FailureLedger
from orchestrator.deploy.payload import Payload, payload_of
from orchestrator.deploy.plan import CONTROL_TIMEOUT
from orchestrator.deploy.records import failed_versions
from orchestrator.engine.locks import LockDetails, parse_details
from orchestrator.errors import DeployError, UsageError
from orchestrator.remote.fleet import HostAccess

if TYPE_CHECKING:
    from orchestrator.config.environments import Environment
    from orchestrator.config.inventory import Inventory
    from orchestrator.deploy.seams import DeploySeams

Connect = Callable[[HostAccess], HostShell]


@dataclass(frozen=True)
class Survey:
    """Every host of an environment as read, with the open shells to go on with."""

    states: dict[str, HostState]
    shells: dict[str, HostShell]
    # Each host's address, as it was reached (a health check's {{ address }}).
    addresses: dict[str, str]
    # Lent by :class:`Surveys`, which closes its shells itself.
    lent: bool = False

    def close(self) -> None:
        """Close every shell (a lent survey's are its lender's to close)."""
        if self.lent:
            return
        for shell in self.shells.values():
            shell.close()


def _read(
    shell: HostShell, files: HostFiles, payload: Payload, becoming: HostAccess | None = None
) -> HostState:
    """Inspect the host; for the login of ``becoming``, check first that it may sudo."""
    command = payload.inspect(files)
    if becoming is None:
        result = shell.run(command, timeout=CONTROL_TIMEOUT)
    else:
        # One round trip: the check, then the inspection, each through sudo.
        result = shell.run(commands.checked_as_root(command), timeout=CONTROL_TIMEOUT, as_user=True)
        if result.status != 0 and commands.ROOT_REFUSED in result.stderr:
            refused = result.stderr.split(commands.ROOT_REFUSED)[0].strip() or "no answer"
            raise UsageError(
                f"{becoming.name}: user {becoming.user} cannot run commands as root with sudo "
                f"without a password ({refused.splitlines()[-1][:200]}): add the line "
                f"'{commands.sudoers_line(becoming.user)}' in /etc/sudoers.d/ on the host "
                "(invoke env.sudoers --env ENV prints the lines)"
            )
    if result.status != 0:
        raise DeployError(f"{shell.where}: cannot read the host: {result.last_lines()}")
    try:
        return payload.parse(shell.where, result.stdout)
    except DeployError as error:
        # Name what the answer holds, the records file among it, for whoever looks.
        raise DeployError(
            f"{error}; the inspection prints what runs, the units' states, then the last "
            f"lines of {files.records}"
        ) from None


def survey(
    accesses: Sequence[HostAccess], connect: Connect, files: HostFiles, payload: Payload
) -> Survey:
    """Connect to every host and read it, all at once; the first error after all finished."""
    shells: dict[str, HostShell] = {}
    states: dict[str, HostState] = {}

    def one(access: HostAccess) -> None:
        shell = connect(access)
        shells[access.name] = shell
        becoming = access if access.become is not None else None
        states[access.name] = _read(shell, files, payload, becoming)

    with ThreadPoolExecutor(max_workers=max(1, min(32, len(accesses)))) as pool:
        futures = [pool.submit(one, access) for access in accesses]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        for shell in shells.values():
            shell.close()
        # A usage error (a host key mismatch) outranks a host that is down.
        errors.sort(key=lambda error: getattr(error, "exit_code", 1), reverse=True)
        raise errors[0]  # type: ignore[misc]
    ordered = {a.name: states[a.name] for a in accesses}
    return Survey(
        ordered, {a.name: shells[a.name] for a in accesses}, {a.name: a.address for a in accesses}
    )


def reread(survey_: Survey, files: HostFiles, payload: Payload) -> None:
    """Read every host of ``survey_`` again over its open shell (under the lock), all at once."""
    names = list(survey_.shells)
    with ThreadPoolExecutor(max_workers=max(1, min(32, len(names)))) as pool:
        read = pool.map(lambda name: _read(survey_.shells[name], files, payload), names)
        survey_.states.update(zip(names, read, strict=True))


def lock_holder(shell: HostShell, files: HostFiles, environment: str) -> LockDetails | None:
    """Who holds ``environment``'s lock on its first host; None when it is free."""
    result = shell.run(commands.read_lock(files, environment), timeout=CONTROL_TIMEOUT)
    return parse_details(result.stdout) if result.status == 0 else None


def upstream_failures(
    inventory: Inventory,
    environment: Environment,
    surveyed: Callable[[Environment], Survey],
    ledger: FailureLedger,
) -> dict[str, set[str]]:
    """Per environment ``environment`` is promoted from, the versions that failed there.

    Their hosts' records say so, and so does the deploy ``ledger``, which they cannot erase.
    """
    failed: dict[str, set[str]] = {}
    for current in upstream_chain(inventory, environment):
        state = surveyed(current)
        try:
            records = [r for s in state.states.values() for r in s.records]
        finally:
            state.close()
        failed[current.name] = failed_versions(records, current.name) | ledger.failed(current.name)
    return failed


def upstream_chain(inventory: Inventory, environment: Environment) -> list[Environment]:
    """The environments ``environment`` is promoted from, nearest first."""
    chain = []
    current = environment
    while current.upstream is not None:
        current = inventory.environment(current.upstream)
        chain.append(current)
    return chain


class Surveys:
    """Each environment's hosts read once per command, lent to whoever asks.

    A command that reads (``env.status``, the environments page, a promotion's and a
    deploy's upstream) asks for the same environments several times: each is read once,
    one round trip per host, and :meth:`read_all` reads many at once. The shells stay open
    for the lock's holder and the health checks until :meth:`close`.
    """

    def __init__(self, inventory: Inventory, seams: DeploySeams) -> None:
        self._inventory = inventory
        self._seams = seams
        self._read: dict[str, Survey | BaseException] = {}
        self._guard = threading.Lock()

    def __call__(self, environment: Environment) -> Survey:
        """``environment``'s hosts as read (the error of reading them, raised again)."""
        with self._guard:
            found = self._read.get(environment.name)
        if found is None:
            try:
                found = survey(
                    self._seams.hosts.accesses(environment), self._seams.hosts.connect,
                    host_files(self._inventory), payload_of(self._inventory, environment),
                )  # fmt: skip
            except Exception as error:
                found = error
            with self._guard:
                self._read.setdefault(environment.name, found)
                found = self._read[environment.name]
        if isinstance(found, BaseException):
            raise found
        return dataclasses.replace(found, lent=True)

    def read_all(self, environments: Sequence[Environment]) -> None:
        """Read every one of ``environments`` at once; their errors wait for who asks."""
        with ThreadPoolExecutor(max_workers=max(1, len(environments))) as pool:
            for future in [pool.submit(self, e) for e in environments]:
                future.exception()

    def close(self) -> None:
        """Close every shell of every survey."""
        with self._guard:
            read, self._read = list(self._read.values()), {}
        for found in read:
            if isinstance(found, Survey):
                found.close()
