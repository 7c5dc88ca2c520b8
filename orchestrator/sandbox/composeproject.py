"""The Compose project a sandbox server of a ``kind: compose`` environment starts with.

On a real host its administrator writes the project; in the sandbox it is written into the
server's root before it boots. Each service runs its image (the project's, or a third
party's) on the host network (the server's loopback address, which it reads from
``/etc/listen-address``, as the package's service does), with the tag the deploy sets: its
``.env`` variable, or ``none`` until the tool's override file names one.
"""

from __future__ import annotations

import json

from orchestrator.commands.compose import ComposeTarget

PROJECT_FILE = "compose.yaml"
LISTEN_ADDRESS = "/etc/listen-address"


def project_files(project: ComposeTarget) -> dict[str, str]:
    """The project's files by path in the server's root."""
    services: dict[str, object] = {}
    for slot in project.slots:
        tag = f"${{{slot.tag_variable}:-none}}" if slot.tag_variable else "none"
        service = {
            "image": f"{slot.reference}:{tag}",
            "network_mode": "host",
            "restart": "no",
            "volumes": [f"{LISTEN_ADDRESS}:{LISTEN_ADDRESS}:ro"],
        }
        services |= dict.fromkeys(slot.services, service)
    # JSON is YAML: no YAML writer needed for a file Compose reads.
    path = f"{project.directory.strip('/')}/{PROJECT_FILE}"
    return {path: json.dumps({"services": services}, indent=2) + "\n"}
