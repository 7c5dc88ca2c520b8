"""Rewriting pinned versions in the inventory file, for ``promote --write`` and ``env.track --write``.

An environment's own ``version``, or a service's (``environments[i].services[j].version``),
each rewritten where it stands.

ruamel.yaml's round-trip parser finds the ``version`` scalar and where it starts and ends;
the new version replaces exactly those characters of the original text. Dumping the
round-trip document instead would re-emit the whole file: ruamel re-indents sequences to
one width, re-spaces flow mappings and wraps long lines, so a one-line promotion would
show up as a diff of the whole inventory.

What it refuses, because the edit would change more than the one environment: a version
that is an anchor or an alias, one that comes from a merge key (``<<``), and an
environment that is itself anchored (merged or aliased elsewhere). As a last check the
edited text is loaded again and must differ from the original in that one value only.
"""

from __future__ import annotations

import copy
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.config.inventory import MAX_INVENTORY_BYTES
from orchestrator.config.yamlload import YamlRefused, load_yaml
from orchestrator.engine.atomic import write_atomically
from orchestrator.errors import InventoryError
from orchestrator.semver import RangeError, is_semver, parse_range

if TYPE_CHECKING:
    from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class PinnedFile:
    """The inventory before and after its pins were rewritten (not written yet)."""

    path: Path
    old_text: str
    new_text: str
    mode: int

    def write(self) -> None:
        """Replace the inventory with the rewritten text (atomically, mode kept)."""
        write_atomically(self.path, self.new_text.encode("utf-8"), mode=self.mode, durable=True)


def rewrite_pins(path: Path, environment: str, pins: Mapping[str | None, str]) -> Path:
    """Rewrite ``environment``'s pins in the inventory at ``path``, keeping comments and layout.

    ``pins`` maps a service's name (None: the environment's own ``version``) to its new
    pinned version. Returns the file written (a symbolic link's target).
    """
    pinned = pinned_text(path, environment, pins)
    pinned.write()
    return pinned.path


def pinned_text(path: Path, environment: str, pins: Mapping[str | None, str]) -> PinnedFile:
    """The inventory at ``path`` with ``environment``'s pins rewritten (see :func:`rewrite_pins`).

    InventoryError when a version is a range, not written as one plain or quoted string,
    shared through an anchor, or when the edit would change anything else.
    """
    for version in pins.values():
        if not is_semver(version):
            raise ValueError(f"{version!r} is not an exact semver version such as 1.3.0-rc.1")
    # Write through a symlink to the file it names, as an editor would.
    path = path.resolve()
    text, mode = _read(path)
    old_data = _load(path, text)
    root = _compose(path, text)
    edits = []
    for service, version in pins.items():
        keys, scalar = _version_scalar(path, root, environment, service)
        edits.append((_span(path, text, scalar, _what(environment, service)), keys, version))
    new_text = text
    for (start, end, quote), _, version in sorted(edits, key=lambda edit: -edit[0][0]):
        new_text = new_text[:start] + f"{quote}{version}{quote}" + new_text[end:]
    _check_only_the_pins_changed(
        path, old_data, new_text, [(k, v) for _, k, v in edits], environment
    )
    return PinnedFile(path, text, new_text, mode)


def _what(environment: str, service: str | None) -> str:
    return (
        f"environment {environment!r}"
        if service is None
        else (f"service {service!r} of environment {environment!r}")
    )


def _span(path: Path, text: str, scalar: ScalarNode, what: str) -> tuple[int, int, str]:
    """Where the pinned version ``scalar`` is written in ``text``, and its quote."""
    where = f"{path}:{scalar.start_mark.line + 1}"
    try:
        pin = parse_range(scalar.value).pin
    except RangeError:
        pin = None
    if pin is None:
        raise InventoryError(
            f"{where}: {what} has version {scalar.value!r}, a range, not a pinned version: "
            "--write rewrites pins only; edit the range by hand"
        )
    quote = scalar.style if scalar.style in ("'", '"') else ""
    literal = f"{quote}{scalar.value}{quote}"
    start, end = scalar.start_mark.index, scalar.end_mark.index
    # A tag (!!str 1.2.3) belongs to the node's marks; only the text after it is the value.
    if scalar.start_mark.line != scalar.end_mark.line or not text[start:end].endswith(literal):
        raise InventoryError(
            f"{where}: the version of {what} is not written as a plain or "
            f'quoted string on one line: write it as version: "{scalar.value}"'
        )
    return end - len(literal), end, quote


def _read(path: Path) -> tuple[str, int]:
    """The inventory's text (line endings as they are) and its permission bits."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise InventoryError(f"{path}: not a regular file; pass the inventory's YAML file")
        with path.open("rb") as stream:
            data = stream.read(MAX_INVENTORY_BYTES + 1)
    except FileNotFoundError:
        raise InventoryError(f"{path}: inventory file not found; pass --inventory PATH") from None
    except OSError as error:
        raise InventoryError(f"{path}: cannot read inventory: {error.strerror}") from None
    if len(data) > MAX_INVENTORY_BYTES:
        raise InventoryError(f"{path}: larger than {MAX_INVENTORY_BYTES} bytes: not an inventory")
    try:
        return data.decode("utf-8"), stat.S_IMODE(info.st_mode)
    except UnicodeDecodeError as error:
        raise InventoryError(
            f"{path}: not UTF-8 text (byte {error.start}); save the inventory as UTF-8 YAML"
        ) from None


def _load(path: Path, text: str) -> Any:
    """The data as the inventory loader reads it, with its limits on size, depth and aliases."""
    try:
        return load_yaml(text)
    except YamlRefused as error:
        where = f"{path}:{error.where}" if error.where else str(path)
        raise InventoryError(f"{where}: {error.message}") from None


def _compose(path: Path, text: str) -> Node:
    """The round-trip node tree: scalars with their style, anchor and position."""
    # ruamel.yaml is imported by the functions that use it: it takes longer to import than
    # the rest of the deploy, and only promote --write needs it.
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.nodes import Node

    try:
        root = YAML(typ="rt").compose(text)
    except YAMLError as error:
        raise InventoryError(f"{path}: invalid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(root, Node):
        raise InventoryError(f"{path}: empty inventory: add an environments: list")
    return root


def _value(mapping: MappingNode, key: str) -> Node | None:
    """The node of ``key`` among ``mapping``'s own keys (not merged ones)."""
    from ruamel.yaml.nodes import ScalarNode  # see _compose

    for key_node, value_node in mapping.value:
        if (
            isinstance(key_node, ScalarNode)
            and key_node.tag != _MERGE_TAG
            and key_node.value == key
        ):
            return value_node  # type: ignore[no-any-return]
    return None


def _anchored(node: Node, what: str, path: Path) -> None:
    """InventoryError if ``node`` carries an anchor: editing it would edit every alias of it."""
    anchor = getattr(node, "anchor", None)
    if anchor is not None:
        raise InventoryError(
            f"{path}:{node.start_mark.line + 1}: {what} is the anchor or an alias &{anchor}, so "
            "rewriting it would change other places too: write the version out in the environment"
        )


def _version_scalar(
    path: Path, root: Node, environment: str, service: str | None
) -> tuple[list[str | int], ScalarNode]:
    """The keys to ``environment``'s (or its ``service``'s) own ``version``, and its scalar."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode  # see _compose

    environments = _value(root, "environments") if isinstance(root, MappingNode) else None
    if not isinstance(environments, SequenceNode):
        raise InventoryError(f"{path}: no environments: list; add one with name: and version:")
    _anchored(root, "the inventory", path)
    _anchored(environments, "the environments list", path)
    found: list[tuple[int, MappingNode]] = []
    names: list[str] = []
    for index, item in enumerate(environments.value):
        name = _value(item, "name") if isinstance(item, MappingNode) else None
        if isinstance(name, ScalarNode):
            names.append(name.value)
            if name.value == environment:
                found.append((index, item))
    if not found:
        known = ", ".join(repr(name) for name in names[:10]) or "none"
        raise InventoryError(
            f"{path}: no environment named {environment!r} (environments: {known}); "
            "pass one of them"
        )
    if len(found) > 1:
        raise InventoryError(
            f"{path}: {len(found)} environments are named {environment!r}: give each a unique name"
        )
    index, mapping = found[0]
    _anchored(mapping, f"environment {environment!r}", path)
    keys: list[str | int] = ["environments", index]
    if service is not None:
        position, mapping = _service_mapping(path, mapping, environment, service)
        keys += ["services", position]
    what = _what(environment, service)
    scalar = _value(mapping, "version")
    line = mapping.start_mark.line + 1
    if scalar is None:
        merged = any(key.tag == _MERGE_TAG for key, _ in mapping.value)
        source = "comes from a merge key (<<), shared with other places" if merged else "is missing"
        raise InventoryError(
            f'{path}:{line}: the version of {what} {source}: write version: "X.Y.Z" in it itself'
        )
    _anchored(scalar, f"the version of {what}", path)
    if not isinstance(scalar, ScalarNode) or scalar.tag != _STR_TAG:
        raise InventoryError(
            f"{path}:{scalar.start_mark.line + 1}: the version of {what} is not "
            'a string: write it as version: "X.Y.Z"'
        )
    return [*keys, "version"], scalar


def _service_mapping(
    path: Path, environment_node: MappingNode, environment: str, service: str
) -> tuple[int, MappingNode]:
    """The position of ``service`` in the environment's ``services:`` and its mapping."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode  # see _compose

    services = _value(environment_node, "services")
    if not isinstance(services, SequenceNode):
        raise InventoryError(f"{path}: environment {environment!r} has no services: list")
    _anchored(services, f"the services of environment {environment!r}", path)
    for position, item in enumerate(services.value):
        name = _value(item, "name") if isinstance(item, MappingNode) else None
        if isinstance(name, ScalarNode) and name.value == service:
            _anchored(item, f"service {service!r} of environment {environment!r}", path)
            return position, item
    raise InventoryError(f"{path}: environment {environment!r} has no service {service!r}")


def _check_only_the_pins_changed(
    path: Path,
    old_data: Any,
    new_text: str,
    edits: list[tuple[list[str | int], str]],
    environment: str,
) -> None:
    """InventoryError unless ``new_text`` reads as the old data with the pins replaced."""
    expected = copy.deepcopy(old_data)
    for keys, version in edits:
        place = expected
        for key in keys[:-1]:
            place = place[key]
        place[keys[-1]] = version
    try:
        new_data = load_yaml(new_text)
    except YamlRefused:
        new_data = None
    if new_data != expected:
        raise InventoryError(
            f"{path}: rewriting the pins of environment {environment!r} would change more than "
            "those versions (is one shared through an anchor?): edit the inventory by hand"
        )
