"""Loading YAML that may be hostile: bounded size, nesting and alias expansion, no duplicates.

``yaml.safe_load`` runs no code, but it still lets a small file cost unbounded time and
memory (a "billion laughs" of nested aliases expands to 10**9 nodes), crashes on deep
nesting with RecursionError, keeps the last of two identical keys without a word, and
turns a 5000-digit number into a ValueError. :func:`load_yaml` refuses each of those with
a :class:`YamlRefused` that names the line, before anything is built from the document.

Merge keys (``<<: *defaults``) and anchors keep working: only their expanded size counts.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_NODES = 100_000
MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlRefused(ValueError):
    """YAML text that is invalid or too costly to load; ``where`` is ``line[:column]``."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = "" if line is None else f"{line}" + ("" if column is None else f":{column}")


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing a key written twice in one mapping."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise YamlRefused(
                    f"duplicate key {key_node.value[:60]!r} (first on line {seen[key_node.value]})",
                    line,
                )
            seen[key_node.value] = line
        return super().construct_mapping(node, deep=deep)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: Node) -> None:
    """YamlRefused if the document, its aliases expanded, is too big, too deep or cyclic."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = _children(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            depths[key] = 1 + max((depths[id(child)] for child in children), default=0)
            line = node.start_mark.line + 1
            if sizes[key] > MAX_NODES:
                raise YamlRefused(
                    f"the document expands to more than {MAX_NODES} values through its "
                    "aliases: write the values out instead of nesting aliases",
                    line,
                )
            if depths[key] > MAX_DEPTH:
                raise YamlRefused(f"the document is nested too deeply (over {MAX_DEPTH})", line)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise YamlRefused(
                "an alias refers to a value that contains it", node.start_mark.line + 1
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def load_yaml(text: str) -> Any:
    """The data of one YAML document; YamlRefused naming the line of what is wrong."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except RecursionError:
        raise YamlRefused(f"the document is nested too deeply (over {MAX_DEPTH})") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        problem = error.problem or str(error).splitlines()[0]
        if mark is None:
            raise YamlRefused(f"invalid YAML: {problem}") from None
        raise YamlRefused(f"invalid YAML: {problem}", mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as error:
        raise YamlRefused(f"invalid YAML: {str(error).splitlines()[0]}") from None
    except ValueError as error:
        if isinstance(error, YamlRefused):
            raise
        # int() refuses numbers of more than 4300 digits.
        raise YamlRefused(f"invalid YAML: a value cannot be read ({str(error)[:80]})") from None
    finally:
        loader.dispose()
