"""What each operation of a deploy does, by family; one handler per operation class.

- :mod:`~orchestrator.deploy.handlers.lock`: ``lock``, the environment's deploy lock on
  its first host (and its release at the end);
- :mod:`~orchestrator.deploy.handlers.change`: ``sources`` and each host program's
  commands, what changes a host;
- :mod:`~orchestrator.deploy.handlers.health`: ``health``, a host's health check;
- :mod:`~orchestrator.deploy.handlers.revert`: ``revert``, a touched host going back;
- :mod:`~orchestrator.deploy.handlers.record`: ``record``, the records on the hosts and
  a failed version in the deploy ledger.

They share one :class:`~orchestrator.deploy.handlers.context.DeployContext`;
:class:`~orchestrator.deploy.handlers.dispatch.DeployHandlers` hands each operation to
its handler, by the operation's class.
"""
