"""What each operation of a release does, by family; one handler per operation class.

- :mod:`~orchestrator.release.handlers.workspace`: ``lock``, the workspace's release lock;
- :mod:`~orchestrator.release.handlers.repo`: ``signing-key`` and ``index``, the signed
  repository and its ledger;
- :mod:`~orchestrator.release.handlers.build`: ``export`` and each target's program
  (``provision``, its commands, ``upload``, ``fetch``, ``destroy``);
- :mod:`~orchestrator.release.handlers.images`: ``push-image``, ``push-index``, ``tag-image``;
- :mod:`~orchestrator.release.handlers.publish`: ``publish-check``, ``publish``,
  ``verify`` and the hooks.

They share one :class:`~orchestrator.release.handlers.context.ReleaseContext`;
:class:`~orchestrator.release.handlers.dispatch.ReleaseHandlers` hands each operation to
its handler (see :mod:`~orchestrator.release.handlers.family`).
"""
