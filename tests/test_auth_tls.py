"""An https UserInfo server is checked as the system's CA bundle says: a trusted certificate for its name only."""

from __future__ import annotations

import datetime
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tornado.netutil import bind_sockets
from tornado.web import Application

from auth import UserInfoClient
from auth.userinfo import UNREACHABLE
from diagnostics.userinfo_server import AuthServer, CountingHTTPServer, UserInfoHandler
from login.errors import AuthUnavailable


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey, *, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:  # the name the client checks: localhost only, not 127.0.0.1
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(signer, hashes.SHA256())


class TLSFiles:
    def __init__(self, directory: Path) -> None:
        ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        self.ca = directory / "ca.pem"
        self.cert, self.key = directory / "server.pem", directory / "server.key"
        self.ca.write_bytes(_certificate("qrlogin test CA", ca_key, "qrlogin test CA", ca_key, ca=True).public_bytes(
            serialization.Encoding.PEM))  # fmt: skip
        self.cert.write_bytes(_certificate("localhost", key, "qrlogin test CA", ca_key, ca=False).public_bytes(
            serialization.Encoding.PEM))  # fmt: skip
        self.key.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip


class TLSAuthServer(AuthServer):
    """The tests' UserInfo server behind TLS, with a certificate for ``localhost`` from a CA of the test's own."""

    def __init__(self, files: TLSFiles) -> None:
        super().__init__()
        self.files = files

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/userinfo"

    def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.files.cert, self.files.key)
        sock = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)[0]
        self.port = sock.getsockname()[1]
        app = Application([(r"/userinfo", UserInfoHandler, dict(server=self))])
        self._server = CountingHTTPServer(app, ssl_options=context)
        self._server.add_sockets([sock])


@pytest.fixture
def tls_files(tmp_path: Path) -> Iterator[TLSFiles]:
    yield TLSFiles(tmp_path)


@pytest.fixture
async def tls_server(tls_files: TLSFiles) -> AsyncIterator[TLSAuthServer]:
    server = TLSAuthServer(tls_files)
    server.start()
    yield server
    await server.stop()


async def test_a_trusted_certificate_for_the_name_is_checked_and_kept_alive(
    tls_server: TLSAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.files.ca))  # how an operator points ssl at a private CA
    client = UserInfoClient(tls_server.url, timeout=2)
    try:
        for _ in range(3):
            assert (await client.identify("Bearer alice-token")).sub == "alice"
    finally:
        client.close()
    assert tls_server.connections == 1 and tls_server.calls == 3


@pytest.mark.parametrize("case", ["untrusted-ca", "wrong-name"])
async def test_a_certificate_not_trusted_for_the_name_is_unreachable(
    tls_server: TLSAuthServer, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    url = tls_server.url
    if case == "wrong-name":  # the CA is trusted, but the certificate names localhost, not 127.0.0.1
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.files.ca))
        url = url.replace("localhost", "127.0.0.1")
    client = UserInfoClient(url, timeout=2)
    try:
        with pytest.raises(AuthUnavailable) as failed:
            await client.identify("Bearer alice-token")
    finally:
        client.close()
    assert failed.value.message == UNREACHABLE
    assert tls_server.calls == 0
