from __future__ import annotations

from orchestrator.sandbox.cloudinit import CloudConfig, parse_user_data

USER_DATA = """#cloud-config
ssh_keys:
  ed25519_private: |
    -----BEGIN OPENSSH PRIVATE KEY-----
    abc
    -----END OPENSSH PRIVATE KEY-----
  ed25519_public: ssh-ed25519 AAAA host
ssh_authorized_keys:
  - ssh-ed25519 AAAA top
users:
  - default
  - name: root
    ssh_authorized_keys:
      - ssh-ed25519 AAAA nested
"""


def test_host_key_and_authorized_keys() -> None:
    config = parse_user_data(USER_DATA)

    assert config.host_key is not None
    assert config.host_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    assert config.authorized_keys == ("ssh-ed25519 AAAA top", "ssh-ed25519 AAAA nested")


def test_other_user_data_is_ignored() -> None:
    for user_data in (
        None,
        "",
        "#!/bin/sh\necho hi\n",
        "#cloud-config\n[unclosed",
        "#cloud-config\n- a\n",
    ):
        assert parse_user_data(user_data) == CloudConfig()
