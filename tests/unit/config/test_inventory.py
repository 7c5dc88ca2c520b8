import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config.inventory import Inventory, load_inventory, parse_inventory
from orchestrator.errors import InventoryError
from orchestrator.repo.options import repo_options

ROOT = Path(__file__).resolve().parents[3]


def sandbox_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    return data


def parse(data: dict[str, Any], path: Path = Path("inv.yaml")) -> Inventory:
    return parse_inventory(yaml.safe_dump(data), path)


@pytest.mark.parametrize("name", ["sandbox.yaml", "digitalocean.example.yaml"])
def test_shipped_inventories_are_valid(name: str) -> None:
    inventory = load_inventory(ROOT / "inventory" / name)
    packages = ["amd64-deb", "arm64-deb", "amd64-rpm", "arm64-rpm"]
    # The sandbox builds the image for both platforms (DigitalOcean has no arm64 droplet).
    images = ["amd64-image", "arm64-image"] if name == "sandbox.yaml" else ["amd64-image"]
    assert [t.name for t in inventory.targets] == packages + images


def test_sandbox_inventory_uses_the_sandbox() -> None:
    inventory = load_inventory(ROOT / "inventory" / "sandbox.yaml")
    assert inventory.uses_sandbox
    assert inventory.cloud.sandbox is not None
    assert inventory.cloud.sandbox.state_dir == ROOT / ".orchestrator" / "sandbox"


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    inventory = parse(sandbox_data(), tmp_path / "sub" / "inv.yaml")
    assert inventory.project.source == (tmp_path / ".orchestrator" / "example" / "hello").resolve()


def test_unknown_key_names_file_and_key_path() -> None:
    data = sandbox_data()
    data["targets"][1]["colour"] = "blue"
    with pytest.raises(InventoryError) as info:
        parse(data, Path("inventory/broken.yaml"))
    message = str(info.value)
    assert message == "inventory/broken.yaml: targets[1].colour: unknown key"
    assert info.value.exit_code == 2


def test_wrong_type_names_what_is_expected() -> None:
    data = sandbox_data()
    data["cloud"]["max_droplets"] = "lots"
    with pytest.raises(InventoryError) as info:
        parse(data)
    message = str(info.value)
    assert message.startswith("inv.yaml: cloud.max_droplets: input should be a valid integer")
    assert "got 'lots'" in message
    assert "\n" not in message


def test_missing_section_and_wrong_literal() -> None:
    data = sandbox_data()
    del data["project"]
    data["targets"][0]["format"] = "apk"
    with pytest.raises(InventoryError) as info:
        parse(data)
    message = str(info.value)
    assert "project: required key is missing" in message
    assert "targets[0].format: input should be 'deb', 'rpm' or 'image', got 'apk'" in message


def test_publish_union_error_paths_are_plain() -> None:
    data = sandbox_data()
    data["publish"] = [{"kind": "s3", "name": "spaces", "bucket": "b", "url": "u", "colour": 1}]
    with pytest.raises(InventoryError, match=r"publish\[0\]\.colour: unknown key"):
        parse(data)


def test_yaml_syntax_error_has_line_and_column() -> None:
    with pytest.raises(InventoryError, match=r"^inv.yaml:3:1: invalid YAML: expected"):
        parse_inventory("project:\n  name: [unclosed\n", Path("inv.yaml"))


def test_missing_file() -> None:
    with pytest.raises(InventoryError, match="inventory file not found"):
        load_inventory(Path("/nonexistent/inv.yaml"))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["targets"].append(dict(d["targets"][0])),
            "duplicate targets names: amd64-deb",
        ),
        (lambda d: d["targets"][0].update(artifacts=["dist/*.deb; rm -rf /"]), "artifact glob"),
        (lambda d: d["targets"][0].update(artifacts=["../secret"]), "artifact glob"),
        (lambda d: d["targets"][0].update(host="h1"), "'host' is only for provider static"),
        (lambda d: d["cloud"].update(ssh_keys=["ssh-ed25519 AAAA"]), "not a key id or an MD5"),
        (lambda d: d["cloud"].update(api_endpoint="https://api.example.org/v1"), "ending in /v2/"),
        (lambda d: d["cloud"]["sandbox"].update(api_host="10.0.0.1"), "cloud.sandbox.api_host"),
        (lambda d: d["cloud"].update(tag_prefix="Bad Prefix"), "cloud.tag_prefix"),
        (lambda d: d["cloud"].update(network="vpc"), "cloud.network: input should be 'public' or"),
        (lambda d: d["cloud"].update(vpc_uuid="default"), "not a VPC id"),
        (lambda d: d["project"].update(name="Hello World"), "project.name"),
    ],
)
def test_semantic_errors(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    data = sandbox_data()
    mutate(data)
    with pytest.raises(InventoryError, match=expected.replace("[", r"\[").replace("*", r"\*")):
        parse(data)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["publish"].append(dict(d["publish"][0])), "duplicate publish names: "),
        (
            lambda d: d.update(notify=[{"name": "chat", "url_env": "CHAT_URL"}] * 2),
            "duplicate notify names: chat",
        ),
        (
            lambda d: d.update(
                notify=[{"name": "chat", "url_env": "CHAT_URL"}], hooks={"env": ["CHAT_URL"]}
            ),
            "hooks.env names CHAT_URL, which holds a secret",
        ),
    ],
)
def test_names_and_secrets_across_the_inventory(mutate: Any, expected: str) -> None:
    data = sandbox_data()
    mutate(data)
    with pytest.raises(InventoryError, match=re.escape(expected)):
        parse(data)


def test_static_targets_must_name_a_host() -> None:
    data = sandbox_data()
    data.pop("environments")  # their servers are the sandbox's
    data["cloud"] = {
        "provider": "static",
        "hosts": [{"name": "builder", "address": "127.0.0.1", "host_key": "ssh-ed25519 AAAA"}],
    }
    with pytest.raises(InventoryError, match=r"needs 'host' naming one of cloud\.hosts"):
        parse(data)
    for target in data["targets"]:
        target["host"] = "builder"
    data["tests"]["host"] = "builder"  # the tests too
    assert parse(data).cloud.provider == "static"


def test_droplets_are_reached_on_their_public_address_unless_told() -> None:
    data = sandbox_data()
    assert (parse(data).cloud.network, parse(data).cloud.vpc_uuid) == ("public", None)
    data["cloud"].update(network="private", vpc_uuid="5A4981AA-9653-4BD1-BEF5-D6BFF52042E4")
    cloud = parse(data).cloud
    assert (cloud.network, cloud.vpc_uuid) == ("private", "5a4981aa-9653-4bd1-bef5-d6bff52042e4")


@pytest.mark.parametrize("setting", [{"network": "private"}, {"vpc_uuid": "5a4981aa-9653-4bd1-bef5-d6bff52042e4"}])  # fmt: skip
def test_static_hosts_have_no_network_to_choose(setting: dict[str, str]) -> None:
    data = sandbox_data()
    data.pop("environments")
    data["cloud"] = {
        "provider": "static",
        "hosts": [{"name": "builder", "address": "127.0.0.1", "host_key": "ssh-ed25519 AAAA"}],
        **setting,
    }
    for target in data["targets"]:
        target["host"] = "builder"
    with pytest.raises(InventoryError, match="provider static reaches its hosts at their address"):
        parse(data)


def test_json_schema_describes_every_section() -> None:
    schema = Inventory.model_json_schema()
    assert set(schema["required"]) == {"project", "cloud", "targets"}
    assert schema["additionalProperties"] is False
    json.dumps(schema)


def test_what_a_target_may_produce_defaults_to_the_project() -> None:
    data = sandbox_data()
    data["targets"][1].update(packages=["hello", "hello-doc"], arch_independent=["hello-doc"])
    data["targets"][1]["limits"] = {"bundle_bytes": "512M", "unpacked_bytes": "1GiB", "files": 10}
    inventory = parse(data)
    first, second = inventory.targets[:2]
    assert inventory.package_names(first) == ("hello",)
    assert inventory.package_names(second) == ("hello", "hello-doc")
    assert (second.limits.bundle_bytes, second.limits.unpacked_bytes) == (512 << 20, 1 << 30)
    assert first.limits.bundle_bytes == 1 << 30 and first.limits.log_bytes == 64 << 20


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["targets"][0].update(arch_independent=["docs"]), "docs, which is not among its packages"),
        (lambda d: d["targets"][0].update(limits={"bundle_bytes": "lots"}), "expected a size such as 512M"),
        (lambda d: d["targets"][0].update(limits={"files": 0}), "targets[0].limits.files"),
        (lambda d: d["project"].update(epoch=-1), "project.epoch"),
        (lambda d: d.update(hooks={"env": ["ORCHESTRATOR_SIGNING_KEY"]}), "holds a secret"),
        (lambda d: d.update(hooks={"env": ["NOT VALID"]}), "hooks.env[0]"),
        (lambda d: d["targets"][0].update(timeout=8 * 86400), "targets[0].timeout"),
    ],
)  # fmt: skip
def test_new_limits_are_checked(edit: Any, message: str) -> None:
    data = sandbox_data()
    edit(data)
    with pytest.raises(InventoryError, match=re.escape(message)):
        parse(data)


@pytest.mark.parametrize(
    "glob",
    [
        "[.][.]/x",
        ".*/x",
        "dist/.*",
        "dist/..",
        "./dist/*.deb",
        "dist//x",
        "/abs",
        "a b",
        "dist/[.]x",
    ],
)
def test_globs_that_could_leave_the_tree_are_refused(glob: str) -> None:
    data = sandbox_data()
    data["targets"][0]["artifacts"] = [glob]
    with pytest.raises(InventoryError, match="artifact glob"):
        parse(data)


@pytest.mark.parametrize("glob", ["dist/*.deb", "**/*.rpm", "out/.build/*.deb", "dist/hello_?.deb"])
def test_ordinary_globs_pass(glob: str) -> None:
    data = sandbox_data()
    data["targets"][0]["artifacts"] = [glob]
    assert parse(data).targets[0].artifacts == [glob]


@pytest.mark.parametrize(
    "path", ["../x.html", ".orchestrator/lock.html", "deb/x.html", "index.html", "a//b.html",
             "/abs.html", "page.txt", "a b.html", "a/b/c/d/e.html", "x" * 70 + ".html"],
)  # fmt: skip
def test_an_environments_page_stays_beside_the_tree(path: str) -> None:
    data = sandbox_data()
    data["publish"][0]["environments_page"] = path
    with pytest.raises(InventoryError, match=re.escape("publish[0].environments_page")):
        parse(data)


def test_a_publish_url_that_pages_could_not_quote_is_refused() -> None:
    data = sandbox_data()
    data["publish"][0]["url"] = 'http://127.76.0.1:8758/"><script>'
    with pytest.raises(InventoryError, match=re.escape("publish[0].url")):
        parse(data)


def test_the_landing_page_links_to_the_first_target_with_an_environments_page() -> None:
    data = sandbox_data()
    data["publish"][0]["environments_page"] = "status/environments.html"
    assert repo_options(parse(data)).environments_page_url == (
        "http://127.76.0.1:8758/status/environments.html"
    )
    del data["publish"][0]["environments_page"]
    assert repo_options(parse(data)).environments_page_url is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["targets"][4].pop("container"), "needs 'container'"),
        (lambda d: d["targets"][4].update(artifacts=["dist/*"]), "collects its image"),
        (lambda d: d["targets"][0].update(container={"repository": "x"}), "only for format: image"),
        (lambda d: d["targets"][4]["container"].update(repository="Hello/../x"), "repository"),
        (lambda d: d["targets"][4]["container"].update(dockerfile="../Dockerfile"), "inside the source"),
        (lambda d: d.pop("registry") and d.update(environments=d["environments"][:3]), "need a 'registry'"),
        (lambda d: d["registry"].update(url="http://registry.example.org"), "login in the clear"),
        (lambda d: d["registry"].update(url="http://127.0.0.1:99999"), "not a TCP port"),
        (lambda d: d.update(hooks={"env": ["REGISTRY_PASSWORD"]}), "holds a secret"),
        (lambda d: d["registry"].update(password_env="MY_PW") or d.update(hooks={"env": ["MY_PW"]}), "holds a secret"),
    ],
)  # fmt: skip
def test_image_targets_and_the_registry_are_checked(edit: Any, message: str) -> None:
    data = sandbox_data()
    edit(data)
    with pytest.raises(InventoryError, match=re.escape(message)):
        parse(data)


def test_x_keys_hold_anchors_and_are_ignored() -> None:
    text = (
        (ROOT / "inventory" / "sandbox.yaml")
        .read_text()
        .replace("targets:", "x-build: &build\n  command: ./build.sh\n\ntargets:", 1)
    )
    assert parse_inventory(text, Path("inv.yaml")).project.name == "hello"


def test_yaml_that_is_costly_or_ambiguous_is_refused() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6)
    )
    cases = {
        laughs: "expands to more than 100000 values",
        "a: 1\nb: 2\na: 3\n": "inv.yaml:3: duplicate key 'a' (first on line 1)",
        "[" * 5000 + "]" * 5000: "nested too deeply",
        "x: " + "9" * 5000 + "\n": "a value cannot be read",
    }
    for text, message in cases.items():
        with pytest.raises(InventoryError, match=re.escape(message)):
            parse_inventory(text, Path("inv.yaml"))


def test_merge_keys_may_override_what_they_merge() -> None:
    text = "base: &base {a: 1, b: 2}\nuse:\n  <<: *base\n  b: 3\n"
    with pytest.raises(InventoryError, match="base: unknown key"):
        parse_inventory(text, Path("inv.yaml"))  # refused by the schema, not as a duplicate


def test_an_inventory_must_be_a_small_regular_utf8_file(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("# " + "x" * (1 << 20))
    (tmp_path / "latin1.yaml").write_bytes(b"project: h\xe9llo\n")
    for name, message in {
        "big.yaml": "larger than 1 MiB",
        "latin1.yaml": "not UTF-8 text (byte 10)",
        ".": "not a regular file",
    }.items():
        with pytest.raises(InventoryError, match=re.escape(message)):
            load_inventory(tmp_path / name)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda envs: envs[1].update({"from": "qa"}),
            r"environments\[1\]\.from: no environment is called 'qa'",
        ),
        (
            lambda envs: envs[0].update({"from": "prod"}),
            r"promotion forms a cycle: dev <- prod <- staging <- dev",
        ),
        (
            lambda envs: envs[2]["hosts"].append(dict(envs[0]["hosts"][0])),
            r"host 'dev-1' is already a host of environment 'dev'",
        ),
        (
            lambda envs: envs[2]["hosts"].append({**envs[0]["hosts"][0], "name": "alias"}),
            r"127\.78\.0\.11:22 is already host 'dev-1'",
        ),
        (
            lambda envs: envs[1].update({"version": "^^1"}),
            r"environments\[1\]\.version: version range",
        ),
        (
            lambda envs: envs[1].update({"colour": "blue"}),
            r"environments\[1\]\.colour: unknown key",
        ),
        (lambda envs: envs[1].update({"packages": ["sudo"]}), r"sudo is not built by any target"),
        (
            lambda envs: envs[1].update({"channels": ["nightly", "bogus"]}),
            r"environments\[1\]\.channels\[1\]",
        ),
        (
            lambda envs: envs[0]["hosts"][0].update({"address": "10.0.0.5"}),
            r"needs an address in 127\.0\.0\.0/8",
        ),
        (
            lambda envs: envs[0]["health"]["http"].update({"url": "http://{{ cycler.__init__ }}/"}),
            r"health\.http\.url",
        ),
        (
            lambda envs: envs[0]["health"].update({"command": "true"}),
            r"exactly one of 'http' and 'command'",
        ),
        (
            lambda envs: envs[2]["hosts"][1].pop("become"),
            r"environments\[2\]\.hosts.*user 'deploy' is not root.*add 'become: sudo'",
        ),
        (
            lambda envs: envs[0]["hosts"][0].update({"become": "sudo"}),
            r"user root needs no 'become'",
        ),
        (
            lambda envs: envs[2]["hosts"][0].update({"become": "su"}),
            r"environments\[2\]\.hosts.*become",
        ),
        (
            lambda envs: envs[2]["hosts"][0].update({"user": "-oProxyCommand=x"}),
            r"environments\[2\]\.hosts.*user",
        ),
    ],
)
def test_environment_errors_name_the_key(change: Any, message: str) -> None:
    data = sandbox_data()
    change(data["environments"])
    with pytest.raises(InventoryError, match=message):
        parse(data)


SANDBOX_HEALTH = "in the sandbox a health check stays on this machine"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://10.1.2.3:8080/health", "http://10.1.2.3:8080/health"),
        ("http://localhost:8080/health", "http://localhost:8080/health"),
        ("http://127.0.0.1@10.1.2.3/", "http://127.0.0.1@10.1.2.3/"),
        ("http://{{ host }}:8080/", "for staging-1 it would GET 'http://staging-1:8080/'"),
        ("http://[::1]:8080/", "http://[::1]:8080/"),
        (
            "http://{% if host == 'staging-2' %}10.1.2.3{% else %}{{ address }}{% endif %}/",
            "for staging-2 it would GET 'http://10.1.2.3/'",
        ),
    ],
)
def test_a_sandbox_health_check_that_would_leave_the_machine_is_refused(
    url: str, shown: str
) -> None:
    data = sandbox_data()
    staging = next(e for e in data["environments"] if e["name"] == "staging")
    staging["health"] = {"http": {"url": url}}
    with pytest.raises(InventoryError) as refused:
        parse(data)
    message = str(refused.value)
    assert message.startswith(f"inv.yaml: environments[1].health.http.url: {SANDBOX_HEALTH}")
    assert shown in message and "\n" not in message and refused.value.exit_code == 2


def test_a_sandbox_health_check_on_the_hosts_or_on_loopback_loads() -> None:
    for url in ("http://{{ address }}:8080/health", "https://127.0.0.9:8443/{{ version }}"):
        data = sandbox_data()
        data["environments"][1]["health"] = {"http": {"url": url}}
        assert parse(data).environment("staging").health is not None


def test_a_sandbox_health_check_of_tagged_droplets_must_go_to_their_address(
    tmp_path: Path,
) -> None:
    data = sandbox_data()
    data["environments"][1]["hosts"] = {"droplet_tag": "web", "known_hosts": "known_hosts"}
    for url, loads in [
        ("http://{{ address }}:8080/health", True),
        ("http://127.0.0.1:8080/health", True),
        ("http://{{ host }}:8080/health", False),
        ("http://10.1.2.3/health", False),
        ("http://{{ address }}.example.org/health", False),
    ]:
        data["environments"][1]["health"] = {"http": {"url": url}}
        if loads:
            parse(data)
            continue
        with pytest.raises(InventoryError, match=re.escape(f"{SANDBOX_HEALTH} ")) as refused:
            parse(data)
        assert f"for a droplet it would GET {url!r}" in str(refused.value)
