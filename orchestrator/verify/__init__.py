"""``invoke verify``: published repositories checked with real apt-get, dnf and zypper.

:func:`orchestrator.verify.run.verify_inventory` checks every publish target of an
inventory; the clients (:mod:`~orchestrator.verify.clients`) also serve the tests.
"""
