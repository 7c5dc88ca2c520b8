"""The endpoints of the emulated API: request bodies in, DigitalOcean JSON out.

Authentication, rate limiting and faults happen before a request gets here
(:mod:`orchestrator.sandbox.emulator`); handlers raise :class:`ApiError` for error answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.sandbox import catalog, views
from orchestrator.sandbox.account import Account, DropletRequest
from orchestrator.sandbox.apierrors import ApiError, bad_request, not_found, unprocessable
from orchestrator.sandbox.keys import check_public_key, fingerprint
from orchestrator.sandbox.lifecycle import Lifecycle
from orchestrator.sandbox.names import droplet_name_problem, tag_name_problem
from orchestrator.sandbox.pagination import paginate

MAX_NAMES = 10
MAX_USER_DATA = 64 * 1024
FEATURE_FLAGS = ("backups", "ipv6", "monitoring", "private_networking")


@dataclass(frozen=True)
class ApiRequest:
    """A request as the routes see it: the path is URL-decoded, without the query."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class ApiResponse:
    """An answer: status, JSON body (None for 204) and extra headers."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[ApiRequest, "re.Match[str]"], ApiResponse]


def _json_body(request: ApiRequest) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise bad_request(f"The request body is not JSON: {exc}") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def _string_list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise unprocessable(f"{name} must be an array.")
    return value


def droplet_request(body: dict[str, Any]) -> DropletRequest:
    """Check a ``POST /v2/droplets`` body; 422 with a clear message for what is wrong."""
    names = _droplet_names(body)
    region, size, image = _placement(body)
    ssh_keys = _ssh_keys(body)
    tags = _tags(body)
    user_data = _user_data(body)
    vpc_uuid = body.get("vpc_uuid")
    return DropletRequest(
        names=tuple(names),
        region=region,
        size=size.slug,
        image=image.slug,
        ssh_keys=tuple(ssh_keys),
        tags=tuple(dict.fromkeys(tags)),
        user_data=user_data,
        features=tuple(flag for flag in FEATURE_FLAGS if body.get(flag)),
        vpc_uuid=vpc_uuid if isinstance(vpc_uuid, str) and vpc_uuid else None,
    )


def _droplet_names(body: dict[str, Any]) -> list[Any]:
    """The droplets' names: ``name`` or ``names`` (1 to MAX_NAMES), each a valid name."""
    if "name" in body and "names" in body:
        raise unprocessable("Specify either name or names, not both.")
    if "names" in body:
        names = body["names"]
        if not isinstance(names, list) or not 1 <= len(names) <= MAX_NAMES:
            raise unprocessable(f"names must be an array of 1 to {MAX_NAMES} droplet names.")
    elif "name" in body:
        names = [body["name"]]
    else:
        raise unprocessable("You must specify a name (or names) for the Droplet.")
    for name in names:
        _refuse(droplet_name_problem(name))
    return names


def _placement(body: dict[str, Any]) -> tuple[str, catalog.Size, catalog.Image]:
    """The region, size and image: each given, and each one the catalogue has."""
    for required in ("region", "size", "image"):
        if body.get(required) in (None, ""):
            raise unprocessable(f"You must specify a {required} for Droplet creation.")
    if body["region"] not in catalog.REGIONS:
        raise unprocessable("You specified an invalid region for Droplet creation.")
    size = catalog.find_size(body["size"]) if isinstance(body["size"], str) else None
    image = catalog.find_image(body["image"]) if isinstance(body["image"], str | int) else None
    if size is None:
        raise unprocessable("You specified an invalid size for Droplet creation.")
    if image is None:
        raise unprocessable("You specified an invalid image for Droplet creation.")
    return body["region"], size, image


def _ssh_keys(body: dict[str, Any]) -> list[Any]:
    """The ``ssh_keys``: key ids (numbers) or fingerprints (strings)."""
    ssh_keys = _string_list(body, "ssh_keys")
    if not all(isinstance(key, str | int) and not isinstance(key, bool) for key in ssh_keys):
        raise unprocessable("ssh_keys must hold SSH key ids or fingerprints.")
    return ssh_keys


def _tags(body: dict[str, Any]) -> list[Any]:
    """The ``tags``, each a valid tag name (repeats are allowed here)."""
    tags = _string_list(body, "tags")
    for tag in tags:
        _refuse(tag_name_problem(tag))
    return tags


def _user_data(body: dict[str, Any]) -> str | None:
    """The cloud-init ``user_data``, a string under MAX_USER_DATA bytes, if any."""
    user_data = body.get("user_data")
    if user_data is None:
        return None
    if not isinstance(user_data, str):
        raise unprocessable("user_data must be a string.")
    if len(user_data.encode()) > MAX_USER_DATA:
        raise unprocessable("user_data must be less than 64 KiB.")
    return user_data


def _refuse(problem: str | None) -> None:
    """422 with ``problem``, if there is one."""
    if problem:
        raise unprocessable(problem)


class Router:
    """Dispatches a request to the handler of its method and path."""

    def __init__(
        self, account: Account, lifecycle: Lifecycle, settings: Callable[[], SandboxSettings]
    ) -> None:
        self._account = account
        self._lifecycle = lifecycle
        self._settings = settings
        # "http://127.0.0.1:8757/v2/" -> "http://127.0.0.1:8757", to build absolute links.
        self._origin = account.api_url.removesuffix("/").removesuffix("/v2")
        segment = r"(?P<{}>[^/]+)"
        number = r"(?P<{}>\d+)"
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/v2/account", self.account),
            ("GET", "/v2/account/keys", self.list_keys),
            ("POST", "/v2/account/keys", self.create_key),
            ("GET", "/v2/account/keys/" + segment.format("key"), self.get_key),
            ("PUT", "/v2/account/keys/" + segment.format("key"), self.update_key),
            ("DELETE", "/v2/account/keys/" + segment.format("key"), self.delete_key),
            ("GET", "/v2/sizes", self.list_sizes),
            ("GET", "/v2/regions", self.list_regions),
            ("GET", "/v2/images", self.list_images),
            ("GET", "/v2/images/" + segment.format("image"), self.get_image),
            ("GET", "/v2/droplets", self.list_droplets),
            ("POST", "/v2/droplets", self.create_droplets),
            ("DELETE", "/v2/droplets", self.delete_tagged),
            ("GET", "/v2/droplets/" + number.format("droplet"), self.get_droplet),
            ("DELETE", "/v2/droplets/" + number.format("droplet"), self.delete_droplet),
            ("GET", "/v2/droplets/{}/actions".format(number.format("droplet")), self.list_actions),
            ("POST", "/v2/droplets/{}/actions".format(number.format("droplet")), self.act),
            (
                "GET",
                "/v2/droplets/{}/actions/{}".format(
                    number.format("droplet"), number.format("action")
                ),
                self.get_action,
            ),
            ("GET", "/v2/actions", self.list_actions),
            ("GET", "/v2/actions/" + number.format("action"), self.get_action),
            ("GET", "/v2/tags", self.list_tags),
            ("POST", "/v2/tags", self.create_tag),
            ("GET", "/v2/tags/" + segment.format("tag"), self.get_tag),
            ("DELETE", "/v2/tags/" + segment.format("tag"), self.delete_tag),
            ("POST", "/v2/tags/{}/resources".format(segment.format("tag")), self.tag_resources),
            ("DELETE", "/v2/tags/{}/resources".format(segment.format("tag")), self.untag_resources),
        ]
        self._routes = [(method, re.compile(path), handler) for method, path, handler in table]

    def dispatch(self, request: ApiRequest) -> ApiResponse:
        """The answer of the matching handler; 404 for unknown paths, 405 for wrong methods."""
        path = request.path.rstrip("/") or "/"
        # HEAD is a GET whose body the HTTP layer drops.
        wanted = "GET" if request.method == "HEAD" else request.method
        known_path = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if method == wanted:
                return handler(request, match)
            known_path = True
        if known_path:
            raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {path}.")
        raise not_found()

    def _page(self, request: ApiRequest, key: str, items: Sequence[dict[str, Any]]) -> ApiResponse:
        page = paginate(items, request.query, self._origin + request.path.rstrip("/"))
        return ApiResponse(200, {key: page.items, "links": page.links, "meta": page.meta})

    def _action_link(self, action_id: int) -> dict[str, Any]:
        return {
            "id": action_id,
            "rel": "create",
            "href": f"{self._account.api_url}actions/{action_id}",
        }

    # -- account, keys, catalogue --------------------------------------------------------

    def account(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/account``."""
        return ApiResponse(200, {"account": views.account_json(self._settings().droplet_limit)})

    def list_keys(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/account/keys``."""
        return self._page(
            request, "ssh_keys", [views.key_json(k) for k in self._account.ssh_keys()]
        )

    def create_key(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``POST /v2/account/keys``."""
        body = _json_body(request)
        name, public_key = body.get("name"), body.get("public_key")
        if not isinstance(name, str) or not name.strip():
            raise unprocessable("name is required.")
        if not isinstance(public_key, str):
            raise unprocessable("public_key is required.")
        try:
            key = self._account.add_key(name, check_public_key(public_key), fingerprint(public_key))
        except ValueError as exc:
            raise unprocessable(
                f"Key invalid, key should be of the format `type key [comment]`: {exc}"
            ) from None
        return ApiResponse(201, {"ssh_key": views.key_json(key)})

    def get_key(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/account/keys/{id or fingerprint}``."""
        return ApiResponse(200, {"ssh_key": views.key_json(self._account.key(match["key"]))})

    def update_key(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``PUT /v2/account/keys/{id or fingerprint}`` (renames the key)."""
        name = _json_body(request).get("name")
        if not isinstance(name, str) or not name.strip():
            raise unprocessable("name is required.")
        key = self._account.rename_key(match["key"], name)
        return ApiResponse(200, {"ssh_key": views.key_json(key)})

    def delete_key(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``DELETE /v2/account/keys/{id or fingerprint}``."""
        self._account.delete_key(match["key"])
        return ApiResponse(204)

    def list_sizes(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/sizes``."""
        return self._page(request, "sizes", [catalog.size_json(s) for s in catalog.SIZES])

    def list_regions(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/regions``."""
        return self._page(request, "regions", [catalog.region_json(r) for r in catalog.REGIONS])

    def list_images(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/images``."""
        return self._page(request, "images", [catalog.image_json(i) for i in catalog.IMAGES])

    def get_image(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/images/{id or slug}``."""
        image = catalog.find_image(match["image"])
        if image is None:
            raise not_found()
        return ApiResponse(200, {"image": catalog.image_json(image)})

    # -- droplets ------------------------------------------------------------------------

    def list_droplets(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/droplets`` with optional ``tag_name`` and ``name``."""
        droplets = self._account.droplets(
            tag_name=request.query.get("tag_name") or None, name=request.query.get("name") or None
        )
        return self._page(request, "droplets", [views.droplet_json(d) for d in droplets])

    def create_droplets(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``POST /v2/droplets`` with ``name`` (one droplet) or ``names`` (several)."""
        body = _json_body(request)
        created = self._account.create_droplets(droplet_request(body))
        links = {"actions": [self._action_link(action.id) for _, action in created]}
        if "names" in body:
            droplets = [views.droplet_json(droplet) for droplet, _ in created]
            return ApiResponse(202, {"droplets": droplets, "links": links})
        return ApiResponse(202, {"droplet": views.droplet_json(created[0][0]), "links": links})

    def get_droplet(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/droplets/{id}``."""
        droplet = self._account.droplet(int(match["droplet"]))
        return ApiResponse(200, {"droplet": views.droplet_json(droplet)})

    def delete_droplet(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``DELETE /v2/droplets/{id}``."""
        self._account.delete_droplet(int(match["droplet"]))
        return ApiResponse(204)

    def delete_tagged(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``DELETE /v2/droplets?tag_name=X``."""
        tag_name = request.query.get("tag_name")
        if not tag_name:
            raise unprocessable("tag_name is required to delete droplets by tag.")
        self._account.delete_tagged(tag_name)
        return ApiResponse(204)

    # -- actions -------------------------------------------------------------------------

    def act(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``POST /v2/droplets/{id}/actions`` (power actions)."""
        action = self._lifecycle.act(int(match["droplet"]), _json_body(request).get("type"))
        return ApiResponse(201, {"action": views.action_json(action)})

    def list_actions(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/actions`` and ``GET /v2/droplets/{id}/actions``."""
        droplet = match.groupdict().get("droplet")
        actions = self._account.actions(int(droplet) if droplet else None)
        return self._page(request, "actions", [views.action_json(a) for a in actions])

    def get_action(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/actions/{id}`` and ``GET /v2/droplets/{id}/actions/{id}``."""
        droplet = match.groupdict().get("droplet")
        action = self._account.action(int(match["action"]), int(droplet) if droplet else None)
        return ApiResponse(200, {"action": views.action_json(action)})

    # -- tags ----------------------------------------------------------------------------

    def _tag_json(self, name: str) -> dict[str, Any]:
        return views.tag_json(name, self._account.droplets(), self._account.api_url)

    def list_tags(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/tags``."""
        return self._page(request, "tags", [self._tag_json(name) for name in self._account.tags()])

    def create_tag(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``POST /v2/tags``."""
        name = _json_body(request).get("name")
        problem = tag_name_problem(name)
        if problem or not isinstance(name, str):
            raise unprocessable(problem or "name is required.")
        return ApiResponse(201, {"tag": self._tag_json(self._account.create_tag(name))})

    def get_tag(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``GET /v2/tags/{name}``."""
        return ApiResponse(200, {"tag": self._tag_json(self._account.tag(match["tag"]))})

    def delete_tag(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``DELETE /v2/tags/{name}``."""
        self._account.delete_tag(match["tag"])
        return ApiResponse(204)

    def _resources(self, request: ApiRequest) -> list[int]:
        resources = _json_body(request).get("resources")
        if not isinstance(resources, list) or not resources:
            raise unprocessable("resources must be a non-empty array.")
        droplet_ids = []
        for resource in resources:
            if not isinstance(resource, dict):
                raise unprocessable(
                    "each resource is an object with resource_id and resource_type."
                )
            if resource.get("resource_type") != "droplet":
                raise unprocessable(
                    "The sandbox only has droplet resources (resource_type droplet)."
                )
            resource_id = str(resource.get("resource_id", ""))
            if not resource_id.isdigit():
                raise unprocessable(f"resource_id {resource_id!r} is not a droplet id.")
            droplet_ids.append(int(resource_id))
        return droplet_ids

    def tag_resources(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``POST /v2/tags/{name}/resources``."""
        self._account.retag(match["tag"], self._resources(request), add=True)
        return ApiResponse(204)

    def untag_resources(self, request: ApiRequest, match: re.Match[str]) -> ApiResponse:
        """``DELETE /v2/tags/{name}/resources``."""
        self._account.retag(match["tag"], self._resources(request), add=False)
        return ApiResponse(204)
