"""The README matches the product: its task table lists every task with its flags, and its
inventory reference names every key of the inventory's JSON Schema.

Both fail when a task, a flag or an inventory key is added (or renamed) without the README,
and say what is missing where.
"""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestrator.cli import namespace
from orchestrator.config.inventory import Inventory

README = Path(__file__).resolve().parents[2] / "README.md"
# A backtick span that is a dotted key path, such as `publish[].environments_page`.
KEY_PATH = re.compile(r"[a-z_]+(\[\])?(\.[a-z_]+(\[\])?)+")
# Schema keywords whose values are data, not schemas: never walked for property names.
DATA_KEYWORDS = frozenset({"default", "examples", "const", "enum", "description", "title"})


def section(title: str) -> str:
    """The README's text under ``## title``, up to the next section."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def spans(text: str) -> list[str]:
    """Every backtick span of ``text``."""
    return re.findall(r"`([^`\n]+)`", text)


def identifiers(text: str) -> set[str]:
    """The words of every backtick span of ``text`` (``hooks.env`` gives hooks and env)."""
    return {word for span in spans(text) for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}


# Tasks


def task_rows() -> dict[str, str]:
    """The task table: each task's name and the first cell of its row (the command line)."""
    rows: dict[str, str] = {}
    for line in section("Tasks").splitlines():
        match = re.match(r"\| `invoke ([\w.-]+)([^`]*)` \|", line)
        if match:
            assert match[1] not in rows, f"README's task table lists {match[1]} twice"
            rows[match[1]] = match[2]
    return rows


def flags(name: str) -> set[str]:
    """The flags ``invoke --help NAME`` lists, as --long-name."""
    return {f"--{argument.names[0]}" for argument in namespace[name].get_arguments()}


def test_the_task_table_lists_every_task_and_no_other() -> None:
    tasks = set(namespace.task_names)
    rows = set(task_rows())
    missing, stale = sorted(tasks - rows), sorted(rows - tasks)
    assert not missing and not stale, (
        f"README's task table (## Tasks) lacks {', '.join(missing) or 'nothing'} and lists "
        f"{', '.join(stale) or 'nothing'} that `invoke --list` does not have"
    )


def test_each_task_row_gives_the_task_flags() -> None:
    wrong = []
    for name, command in sorted(task_rows().items()):
        if name not in namespace.task_names:
            continue  # reported by the test above
        # The sentence under the table says which tasks take --inventory.
        actual = flags(name) - {"--inventory"}
        documented = set(re.findall(r"--[a-z][a-z0-9-]*", command))
        if actual != documented:
            lacking, unknown = sorted(actual - documented), sorted(documented - actual)
            wrong.append(
                f"{name} lacks {', '.join(lacking) or 'nothing'}"
                + (f" and names {', '.join(unknown)}, which it does not take" if unknown else "")
            )
    assert not wrong, "README's task table: " + "; ".join(wrong)


def test_the_tasks_without_an_inventory_flag_are_named() -> None:
    match = re.search(r"Every task but (.+?) takes `--inventory PATH`", section("Tasks"), re.S)
    assert match, "README's ## Tasks says which tasks take --inventory PATH"
    named = set(spans(match[1]))
    without = {name for name in namespace.task_names if "--inventory" not in flags(name)}
    assert named == without, (
        f"README says every task but {', '.join(sorted(named))} takes --inventory; "
        f"the tasks without it are {', '.join(sorted(without))}"
    )


# Inventory keys

# Every property of the schema is a key a user may write, so none is skipped: `kind` picks a
# publish target's or an environment's shape, the sandbox's settings and faults are written
# in inventory/sandbox.yaml, and `from` is the key as written (the model's alias).


def keys_under(node: Any, defs: dict[str, Any], seen: set[str]) -> set[str]:
    """Every property name in the schema ``node``, following each ``$ref`` once."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= keys_under(item, defs, seen)
    elif isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str):
            name = reference.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                found |= keys_under(defs[name], defs, seen)
        for keyword, value in node.items():
            if keyword in DATA_KEYWORDS:
                continue
            if keyword == "properties":
                found |= set(value)
            found |= keys_under(value, defs, seen)
    return found


def schema_sections() -> dict[str, set[str]]:
    """Each top-level key of the inventory, with every key that can be written under it."""
    schema = Inventory.model_json_schema()
    defs = schema.get("$defs", {})
    return {key: keys_under(value, defs, set()) for key, value in schema["properties"].items()}


def key_paths(node: Any, defs: dict[str, Any], prefix: str, depth: int = 0) -> Iterator[str]:
    """Every dotted key path under ``node`` (list items are transparent: `publish.url`)."""
    if depth > 12 or not isinstance(node, dict):
        return
    reference = node.get("$ref")
    if isinstance(reference, str):
        yield from key_paths(defs[reference.rsplit("/", 1)[-1]], defs, prefix, depth + 1)
    for key, value in node.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        yield path
        yield from key_paths(value, defs, path, depth + 1)
    for keyword in ("items", "additionalProperties"):
        yield from key_paths(node.get(keyword), defs, prefix, depth + 1)
    for keyword in ("anyOf", "oneOf", "allOf"):
        for choice in node.get(keyword, []):
            yield from key_paths(choice, defs, prefix, depth + 1)


def reference_bullets() -> dict[str, set[str]]:
    """The inventory reference's bullets: each top-level key, with the words it puts in backticks."""
    bullets: dict[str, set[str]] = {}
    for bullet in re.split(r"^- ", section("Inventory reference"), flags=re.M)[1:]:
        top = re.match(r"`([a-z_]+)", bullet)
        assert top, (
            f"an inventory reference bullet starts with its key in backticks: {bullet[:60]!r}"
        )
        bullets.setdefault(top[1], set()).update(identifiers(bullet))
    return bullets


def test_the_inventory_reference_names_every_key() -> None:
    bullets = reference_bullets()
    problems = []
    for top, keys in sorted(schema_sections().items()):
        if top not in bullets:
            problems.append(f"`{top}` has no bullet")
            continue
        missing = sorted(keys - bullets[top])
        if missing:
            problems.append(f"`{top}` lacks {', '.join(f'`{key}`' for key in missing)}")
    assert not problems, (
        "README's ## Inventory reference does not name every inventory key (write each in "
        "backticks in its top-level key's bullet): " + "; ".join(problems)
    )


def test_the_inventory_reference_has_a_bullet_per_top_level_key_only() -> None:
    stale = sorted(set(reference_bullets()) - set(schema_sections()))
    assert not stale, f"README's ## Inventory reference has bullets for unknown keys: {stale}"


def test_every_key_path_in_the_inventory_reference_exists() -> None:
    schema = Inventory.model_json_schema()
    paths = set(key_paths(schema, schema.get("$defs", {}), ""))
    stale = sorted(
        span
        for span in spans(section("Inventory reference"))
        if KEY_PATH.fullmatch(span)
        and not any(
            path == (key := span.replace("[]", "")) or path.endswith(f".{key}") for path in paths
        )
    )
    assert not stale, f"README's ## Inventory reference names key paths the schema lacks: {stale}"
