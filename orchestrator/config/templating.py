"""Inventory-supplied jinja2 templates, rendered so that they can only substitute.

Build commands and health checks are templates written in the inventory. They may
substitute the variables they are given, compare them and choose with if/else (with the
lower, upper and trim filters): no attribute, call, loop or arithmetic, which is what lets a
jinja2 template run Python (``cycler.__init__.__globals__``) or build a string of gigabytes.
They are rendered in jinja2's sandbox besides, and an unknown name is an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import InventoryError

if TYPE_CHECKING:
    from jinja2 import nodes

_TEMPLATE_FILTERS = frozenset({"lower", "upper", "trim"})


def _refused_construct(template: nodes.Template) -> str | None:
    """The first construct of a parsed template that an inventory template may not use."""
    from jinja2 import nodes  # see render_template

    allowed = (
        nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Concat,
        nodes.If, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not,
    )  # fmt: skip
    for node in template.find_all(nodes.Node):
        if isinstance(node, nodes.Filter) and node.name in _TEMPLATE_FILTERS:
            continue
        if isinstance(node, nodes.Name) and node.ctx != "load":
            return "an assignment"
        if not isinstance(node, allowed):
            name = node.name if isinstance(node, nodes.Filter) else type(node).__name__
            return f"{name!r}"
    return None


def render_template(template: str, variables: dict[str, str], where: str, what: str) -> str:
    """Render ``template`` (found at key path ``where``, ``what`` it is) with ``variables``.

    InventoryError naming ``where`` for anything but plain substitution, a syntax error or
    an unknown name.
    """
    # jinja2 loads when an inventory is first read, not with the task list.
    import jinja2
    import jinja2.sandbox

    environment = jinja2.sandbox.ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False
    )
    try:
        parsed = environment.parse(template)
        refused = _refused_construct(parsed)
        if refused is not None:
            raise InventoryError(
                f"{where}: {refused} is not allowed in {what}: use the variables "
                f"({', '.join(variables)}), ~, comparisons and if/else"
            )
        return environment.from_string(parsed).render(variables)
    except jinja2.TemplateError as error:
        message = str(error).splitlines()[0][:200] if str(error) else error.__class__.__name__
        raise InventoryError(
            f"{where}: {message}; available variables: {', '.join(variables)}"
        ) from None
    except RecursionError:
        raise InventoryError(f"{where}: the template is nested too deeply") from None
