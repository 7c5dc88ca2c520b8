"""The contracts of the seams: one test body, run against a fake and a real one.

``tests/unit`` runs each contract against :mod:`orchestrator.testing`'s fakes, and
``tests/integration`` against the real implementations in the sandbox, so the fakes the
pipeline's unit tests rely on answer as the real ones do. A real implementation that
needs nothing of the sandbox for a contract (the deploy hosts an inventory lists) is
held to it in ``tests/unit`` too.
"""
