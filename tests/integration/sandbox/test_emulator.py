"""The emulated DigitalOcean API over plain HTTP: shapes, status codes, pagination, tags."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.sandbox import control

pytestmark = pytest.mark.integration

ERROR_KEYS = {"id", "message"}


def test_every_request_needs_the_token(api: Any, sandbox_config: Any) -> None:
    missing = requests.get(api.info.api_url + "account", timeout=5)
    wrong = type(api)(api.info, token="dop_v1_wrong").get("account")

    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json() == {"id": "unauthorized", "message": "Unable to authenticate you"}
        assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(
            response.headers
        )
    assert [r.status for r in control.request_log(sandbox_config) if r.path == "/v2/account"][
        -2:
    ] == [401, 401]


def test_token_file_is_private(sandbox: Any) -> None:
    token_file = Path(sandbox.state_dir) / "token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.read_text().strip() == sandbox.token


def test_unknown_things_are_404_with_error_bodies(api: Any) -> None:
    for response in (
        api.get("droplets/123"),
        api.delete("droplets/123"),
        api.get("actions/5"),
        api.get("tags/nope"),
        api.get("account/keys/99"),
        api.get("floating_ips"),
    ):
        assert response.status_code == 404
        assert response.json() == {
            "id": "not_found",
            "message": "The resource you were accessing could not be found.",
        }


def test_account_sizes_and_regions(api: Any) -> None:
    first = api.get("account")
    second = api.get("sizes", params={"per_page": 200})
    regions = api.get("regions").json()

    assert first.json()["account"]["droplet_limit"] == 25
    assert int(second.headers["ratelimit-remaining"]) < int(first.headers["ratelimit-remaining"])
    assert int(first.headers["ratelimit-limit"]) == 250
    sizes = {size["slug"]: size for size in second.json()["sizes"]}
    assert sizes["s-1vcpu-1gb"]["price_hourly"] == pytest.approx(0.00893)
    assert {"s-2vcpu-4gb", "s-4vcpu-8gb", "c-2"} <= set(sizes)
    assert "nyc3" in {region["slug"] for region in regions["regions"]}


def test_ssh_keys_by_id_and_fingerprint(api: Any, identity: Any, tmp_path: Path) -> None:
    created = api.post("account/keys", json={"name": "ci", "public_key": identity.client_public})
    key = created.json()["ssh_key"]
    key_file = tmp_path / "key.pub"
    key_file.write_text(identity.client_public + "\n")
    ssh_keygen = subprocess.run(
        ["ssh-keygen", "-l", "-E", "md5", "-f", str(key_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert created.status_code == 201
    assert f"MD5:{key['fingerprint']}" in ssh_keygen
    assert api.get(f"account/keys/{key['id']}").json()["ssh_key"] == key
    assert api.get(f"account/keys/{key['fingerprint']}").json()["ssh_key"] == key
    duplicate = api.post("account/keys", json={"name": "again", "public_key": key["public_key"]})
    assert duplicate.status_code == 422
    assert api.post("account/keys", json={"name": "x", "public_key": "ssh-rsa"}).status_code == 422
    assert api.delete(f"account/keys/{key['fingerprint']}").status_code == 204
    assert api.get(f"account/keys/{key['id']}").status_code == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "bad_name!"}, "Only valid hostname characters are allowed"),
        ({"region": None}, "You must specify a region"),
        ({"size": "s-64vcpu-1tb"}, "invalid size"),
        ({"image": "windows-11"}, "invalid image"),
        ({"ssh_keys": ["aa:bb"]}, "there is no SSH key"),
        ({"tags": ["no spaces"]}, "Tag name"),
    ],
)
def test_create_validation(api: Any, fields: dict[str, Any], message: str) -> None:
    body = {"name": "ok", "region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64"}
    response = api.post("droplets", json={**body, **fields})

    assert response.status_code == 422
    assert response.json()["id"] == "unprocessable_entity"
    assert message in response.json()["message"]


def test_create_boot_and_actions(api: Any, sandbox_config: Any) -> None:
    response = api.post(
        "droplets",
        json={
            "name": "web-1",
            "region": "fra1",
            "size": "s-2vcpu-4gb",
            "image": "ubuntu-24-04-x64",
            "tags": ["env:test", "web"],
            "ipv6": True,
        },
    )
    body = response.json()
    created = body["droplet"]
    action_link = body["links"]["actions"][0]

    assert response.status_code == 202
    assert created["status"] == "new"
    assert created["networks"] == {"v4": [], "v6": []}
    assert created["size"]["slug"] == created["size_slug"] == "s-2vcpu-4gb"
    assert (created["memory"], created["vcpus"]) == (4096, 2)
    assert created["image"]["slug"] == "ubuntu-24-04-x64"
    assert created["region"]["slug"] == "fra1"
    assert created["tags"] == ["env:test", "web"]
    assert "ipv6" in created["features"]
    assert created["created_at"].endswith("Z")
    assert action_link["rel"] == "create"
    assert action_link["href"] == f"{api.info.api_url}actions/{action_link['id']}"

    active = api.wait_status(created["id"], "active")
    # As DigitalOcean answers: the private (VPC) interface first, without a gateway.
    private, public = active["networks"]["v4"]
    pool = ipaddress.IPv4Network(sandbox_config.address_pool)
    assert ipaddress.IPv4Address(public["ip_address"]) in pool
    assert (public["type"], public["netmask"]) == ("public", "255.255.255.0")
    assert public["gateway"] == str(next(pool.hosts()))
    private_pool = ipaddress.IPv4Network(sandbox_config.private_address_pool)
    assert ipaddress.IPv4Address(private["ip_address"]) in private_pool
    assert (private["type"], private["netmask"], private["gateway"]) == (
        "private",
        "255.255.255.0",
        "nil",
    )
    # Without a vpc_uuid a droplet goes into its region's default VPC.
    neighbour = api.create("web-2", region="fra1")
    elsewhere = api.create("web-3", region="fra1", vpc_uuid="5a4981aa-0000-4bd1-bef5-d6bff52042e4")
    assert created["vpc_uuid"] == neighbour["vpc_uuid"] != elsewhere["vpc_uuid"]
    assert elsewhere["vpc_uuid"] == "5a4981aa-0000-4bd1-bef5-d6bff52042e4"
    action = api.get(f"actions/{action_link['id']}").json()["action"]
    assert (action["status"], action["type"], action["resource_id"]) == (
        "completed",
        "create",
        created["id"],
    )
    listed = api.get(f"droplets/{created['id']}/actions").json()
    assert [a["id"] for a in listed["actions"]] == [action_link["id"]]
    tags = {tag["name"]: tag for tag in api.get("tags").json()["tags"]}
    assert tags["web"]["resources"]["droplets"]["count"] == 1


def test_pagination_links_are_absolute(api: Any) -> None:
    names = [f"page-{index}" for index in range(5)]
    response = api.post(
        "droplets",
        json={
            "names": names,
            "region": "nyc3",
            "size": "s-1vcpu-1gb",
            "image": "debian-12-x64",
            "tags": ["paged"],
        },
    )
    assert response.status_code == 202
    assert len(response.json()["droplets"]) == 5
    assert len(response.json()["links"]["actions"]) == 5

    first = api.get("droplets", params={"tag_name": "paged", "per_page": 2}).json()
    seen = [droplet["name"] for droplet in first["droplets"]]
    page = first
    while "next" in page["links"].get("pages", {}):
        next_url = page["links"]["pages"]["next"]
        assert next_url.startswith(api.info.api_url + "droplets?")
        assert "tag_name=paged" in next_url
        page = requests.get(
            next_url, headers={"Authorization": f"Bearer {api.info.token}"}, timeout=5
        ).json()
        seen += [droplet["name"] for droplet in page["droplets"]]

    assert first["meta"] == {"total": 5}
    assert set(first["links"]["pages"]) == {"next", "last"}
    assert first["links"]["pages"]["last"].endswith("page=3&per_page=2")
    assert set(page["links"]["pages"]) == {"first", "prev"}
    assert seen == names
    assert api.get("droplets", params={"name": "PAGE-3"}).json()["meta"]["total"] == 1
    assert api.get("droplets").json()["links"] == {}


def test_delete_by_tag(api: Any) -> None:
    doomed = [api.create(f"doomed-{i}", tags=["batch"])["id"] for i in range(2)]
    kept = api.create("kept", tags=["other"])["id"]

    response = api.delete("droplets", params={"tag_name": "batch"})

    assert response.status_code == 204
    assert response.content == b""
    assert api.get("droplets", params={"tag_name": "batch"}).json()["droplets"] == []
    assert all(api.get(f"droplets/{i}").status_code == 404 for i in doomed)
    assert api.get(f"droplets/{kept}").status_code == 200
    assert api.delete(f"droplets/{kept}").status_code == 204
    assert api.get(f"droplets/{kept}").status_code == 404


def test_droplet_limit(sandbox_settings: Any) -> None:
    settings = sandbox_settings(droplet_limit=2)
    info = control.start(settings)
    body = {"region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64"}
    headers = {"Authorization": f"Bearer {info.token}"}

    def create(**fields: Any) -> requests.Response:
        return requests.post(
            info.api_url + "droplets", json={**body, **fields}, headers=headers, timeout=5
        )

    assert create(names=["a", "b", "c"]).status_code == 422
    assert create(names=["a", "b"]).status_code == 202
    refused = create(name="c")

    assert refused.status_code == 422
    assert refused.json() == {
        "id": "unprocessable_entity",
        "message": "creating this/these droplet(s) will exceed your droplet limit",
    }
    account = requests.get(info.api_url + "account", headers=headers, timeout=5).json()
    assert account["account"]["droplet_limit"] == 2


def test_tags_endpoints(api: Any) -> None:
    droplet = api.create("tagged")["id"]

    assert api.post("tags", json={"name": "release:v1"}).status_code == 201
    assert api.post("tags", json={"name": "bad tag"}).status_code == 422
    resources = {"resources": [{"resource_id": str(droplet), "resource_type": "droplet"}]}
    assert api.post("tags/release:v1/resources", json=resources).status_code == 204
    tag = api.get("tags/release:v1").json()["tag"]
    assert tag["resources"]["count"] == 1
    assert tag["resources"]["last_tagged_uri"] == f"{api.info.api_url}droplets/{droplet}"
    assert api.get(f"droplets/{droplet}").json()["droplet"]["tags"] == ["release:v1"]
    assert api.delete("tags/release:v1/resources", json=resources).status_code == 204
    assert api.get(f"droplets/{droplet}").json()["droplet"]["tags"] == []
    assert api.post("tags/release:v1/resources", json=resources).status_code == 204
    assert api.delete("tags/release:v1").status_code == 204
    assert api.get("tags/release:v1").status_code == 404
    assert api.get(f"droplets/{droplet}").json()["droplet"]["tags"] == []


def test_power_actions_stop_and_start_sshd(api: Any, probe: Any, waiter: Any) -> None:
    droplet = api.create("powered")
    address = api.address(api.wait_status(droplet["id"], "active"))
    assert probe(address)

    response = api.post(f"droplets/{droplet['id']}/actions", json={"type": "power_off"})
    action = response.json()["action"]
    assert response.status_code == 201
    assert (action["type"], action["resource_type"]) == ("power_off", "droplet")
    api.wait_status(droplet["id"], "off")
    assert not probe(address)
    waiter(
        lambda: api.get(f"actions/{action['id']}").json()["action"]["status"] == "completed",
        what="power_off to complete",
    )

    assert (
        api.post(f"droplets/{droplet['id']}/actions", json={"type": "rebuild"}).status_code == 422
    )
    api.post(f"droplets/{droplet['id']}/actions", json={"type": "power_on"})
    api.wait_status(droplet["id"], "active")
    assert probe(address)


def test_rate_limit_is_enforced(api: Any) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api.info.token}"
    statuses = [session.get(api.info.api_url + "regions", timeout=5) for _ in range(252)]

    # Starting the sandbox made a request or two of the 250 already: count from the first.
    allowed = int(statuses[0].headers["ratelimit-remaining"]) + 1
    assert allowed >= 240
    assert [r.status_code for r in statuses] == [200] * allowed + [429] * (252 - allowed)
    refused = statuses[-1]
    assert refused.status_code == 429
    assert refused.json() == {"id": "too_many_requests", "message": "API Rate limit exceeded."}
    assert refused.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
