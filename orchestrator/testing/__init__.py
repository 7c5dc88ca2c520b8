"""In-memory fakes of the release's seams, for tests (as ``fabric.testing`` ships its own).

- :class:`~orchestrator.testing.hosts.FakeBuildHosts`: build hosts whose sessions
  understand the commands a plan gives them (:mod:`orchestrator.commands.build`) over an
  in-memory file system, and build .deb packages on request;
- :class:`~orchestrator.testing.publish.MemoryTarget`: a publish target that keeps what it
  serves in memory;
- :class:`~orchestrator.testing.signing.FakeSigner`: a signing key that signs nothing;
- :func:`~orchestrator.testing.seams.fake_seams`: all of them as the seams of a release.

Nothing here touches the network, another process or the disk outside the paths it is
given, so a whole release runs in a unit test.
"""
