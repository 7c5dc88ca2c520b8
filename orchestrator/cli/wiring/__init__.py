"""Where the tasks wire the sandbox in, so that the product never has to know of it.

An inventory whose cloud is the sandbox (``cloud.sandbox``) gets its rehearsal parts here,
and only here, one module per domain: the emulator's API end point and token
(:mod:`.sandbox`, the sandbox started when a task first needs it), its repo server's pinned
host key and client key for ``publish`` entries with ``host_key: sandbox`` (:mod:`.publish`),
its throwaway signing key for ``signing.sandbox_key`` (:mod:`.signing`), its registry
(:mod:`.images`), its servers (:mod:`.servers`); then the real seams of a release
(:mod:`.release`) and of a deploy (:mod:`.deploy`). Everything after that runs exactly as
it would against a real account.
"""
