"""Atomic publishing of repository trees to repo servers (SSH) and buckets (S3, Spaces).

The entry points are in :mod:`orchestrator.publish.run`: :func:`resolve_targets` and
:func:`publish_tree`, with :class:`PublishInfo` in and :class:`PublishedTo` out. Pure
planning (manifests, upload order, snapshot names, commands, audit lines) lives in
``manifest``, ``order``, ``snapshots``, ``remote``, ``audit`` and ``lock``; side effects
in ``ssh``, ``session``, ``s3`` and ``bucket``.
"""
