"""A token registry (as Docker Hub, DOCR, GHCR and GitLab are): Debian's docker-registry
with token auth, and a token server on 127.0.0.1 that signs ES256 tokens (test bed)."""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from orchestrator.errors import PublishError
from orchestrator.images.names import VERSION_LABEL
from orchestrator.images.push import push_image, push_index
from orchestrator.images.registry import Credentials, Registry
from orchestrator.images.saved import read_saved_image
from orchestrator.images.served import served_tag
from orchestrator.sandbox.processes import listening, wait_until
from orchestrator.testing.images import saved_image
from tests.conftest import free_port

pytestmark = pytest.mark.integration

USER, PASSWORD = "ci", "s3cret-token"
SERVICE, ISSUER = "relorch-registry", "relorch-test-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Signer:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token-signer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .sign(self.key, hashes.SHA256())
        )

    def token(self, scope: str) -> str:
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        now = int(time.time())
        access = []
        if scope.count(":") == 2:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        claims = {
            "iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
            "iat": now, "jti": str(now), "access": access,
        }  # fmt: skip
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("token-registry")
    signer = _Signer()
    (work / "cert.pem").write_bytes(signer.cert.public_bytes(serialization.Encoding.PEM))
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Tokens(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            if self.headers.get("Authorization") != expected or query.get("service") != [SERVICE]:
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps({"token": signer.token(query.get("scope", [""])[0])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    tokens = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tokens)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    port = free_port()
    (work / "config.yml").write_text(
        "\n".join([
            "version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:",
            f"    rootdirectory: {work / 'storage'}", "http:", f"  addr: 127.0.0.1:{port}",
            "auth:", "  token:", f"    realm: http://127.0.0.1:{tokens.server_address[1]}/token",
            f"    service: {SERVICE}", f"    issuer: {ISSUER}",
            f"    rootcertbundle: {work / 'cert.pem'}", "",
        ])
    )  # fmt: skip
    registry = subprocess.Popen(
        ["docker-registry", "serve", str(work / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=(work / "registry.log").open("wb"),
    )
    try:
        assert wait_until(lambda: listening("127.0.0.1", port), 10)
        yield f"http://127.0.0.1:{port}"
    finally:
        registry.terminate()
        registry.wait(10)
        tokens.shutdown()


def test_a_token_registry_gives_the_login_a_token_and_takes_the_push(
    token_registry: str, tmp_path: Path
) -> None:
    image = read_saved_image(
        saved_image(tmp_path / "image.tar", labels={VERSION_LABEL: "2.0.0"}),
        "image",
        max_bytes=1 << 30,
    )
    registry = Registry(token_registry, Credentials(USER, PASSWORD))
    platform = push_image(image, registry, "hello", tmp_path / "work")
    index = push_index(registry, "hello", "2.0.0", [platform])
    served = served_tag(Registry(token_registry, Credentials(USER, PASSWORD)), "hello", "2.0.0")
    assert served is not None and served.digest == index
    assert [(i.digest, i.version) for i in served.images] == [(platform.digest, "2.0.0")]
    assert "2.0.0" in registry.tags("hello")


def test_a_wrong_login_is_told_in_one_line(token_registry: str) -> None:
    with pytest.raises(PublishError, match="token realm answered 401: check the registry's"):
        Registry(token_registry, Credentials(USER, "wrong")).tags("hello")


def test_a_token_realm_off_the_machine_in_plain_http_gets_no_login() -> None:
    registry = Registry("https://registry.example.org", Credentials(USER, PASSWORD))
    challenge = {"realm": "http://203.0.113.7/token", "service": SERVICE}
    with pytest.raises(PublishError, match="not https: the login would go in the clear"):
        registry._token(challenge)
