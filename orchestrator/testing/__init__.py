"""In-memory fakes of the release's and the deploy's seams, for tests (as ``fabric.testing`` ships its own).

- :class:`~orchestrator.testing.hosts.FakeBuildHosts`: build hosts whose sessions
  understand the commands a plan gives them (:mod:`orchestrator.commands.build`) over an
  in-memory file system, and build .deb packages on request;
- :class:`~orchestrator.testing.publish.MemoryTarget`: a publish target that keeps what it
  serves in memory;
- :class:`~orchestrator.testing.signing.FakeSigner`: a signing key that signs nothing;
- :func:`~orchestrator.testing.seams.fake_seams`: all of them as the seams of a release;
- :class:`~orchestrator.testing.deploy.FakeDeployHosts`: deploy hosts that are
  :class:`~orchestrator.testing.servers.FakeServer` s, whose shells answer the commands of
  :mod:`orchestrator.commands.deploy`;
- :class:`~orchestrator.testing.deploy.FakeReleaseIndex`: the versions, images and key it
  was given, as what the project published;
- :func:`~orchestrator.testing.deploy.fake_deploy_seams`: both, and a deploy ledger on a
  :class:`~orchestrator.testing.publish.MemoryTarget`, as the seams of a deploy.

Nothing here touches the network, another process or the disk outside the paths it is
given, so a whole release, or a whole deploy, runs in a unit test.
"""
