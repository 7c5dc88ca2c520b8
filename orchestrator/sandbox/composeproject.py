"""The Compose project a sandbox server of a ``kind: compose`` environment starts with.

On a real host its administrator writes the project; in the sandbox it is written into the
server's root before it boots. Each service runs the project's image on the host network
(the server's loopback address, which it reads from ``/etc/listen-address``, as the
package's service does), with the tag the deploy sets: the ``.env`` variable, or ``none``
until the tool's override file names one.
"""

from __future__ import annotations

import json

from orchestrator.config.environments import ComposeProject

PROJECT_FILE = "compose.yaml"
LISTEN_ADDRESS = "/etc/listen-address"


def project_files(project: ComposeProject, reference: str) -> dict[str, str]:
    """The project's files by path in the server's root; ``reference`` is REGISTRY/REPOSITORY."""
    tag = f"${{{project.tag_variable}:-none}}" if project.tag_variable else "none"
    service = {
        "image": f"{reference}:{tag}",
        "network_mode": "host",
        "restart": "no",
        "volumes": [f"{LISTEN_ADDRESS}:{LISTEN_ADDRESS}:ro"],
    }
    document = {"services": dict.fromkeys(project.services, service)}
    # JSON is YAML: no YAML writer needed for a file Compose reads.
    path = f"{project.directory.strip('/')}/{PROJECT_FILE}"
    return {path: json.dumps(document, indent=2) + "\n"}
