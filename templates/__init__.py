"""The jinja2 templates the product renders, installed as ``orchestrator.templates``."""
