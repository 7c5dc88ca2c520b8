"""Signed APT and RPM repository trees: indexing, signing, retention and client files.

Entry points live in :mod:`orchestrator.repo.build` (``add_packages``, ``resign``,
``plan_prune``, ``prune``) and :mod:`orchestrator.repo.signing` (``open_signer``,
``generate_key``); the index writers (:mod:`~orchestrator.repo.deb`,
:mod:`~orchestrator.repo.rpm`) are separate from the code that changes a tree.
"""
