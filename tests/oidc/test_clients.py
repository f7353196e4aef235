"""The client registry: exact redirect URIs, secrets shown once and kept hashed, the ``clients`` command."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from oidc.client_rules import ClientError, check_redirect_uri
from oidc.client_secrets import SecretHasher
from oidc.clients import CLIENT_CACHE_TTL, ClientRegistry
from oidc.errors import InvalidClient
from redis_map import connect
from redis_map.clients import RedisClientStore
from redis_map.connection.connect import RedisClient
from redis_map.keys import KeySpace
from runtime import clients_cli
from tests.procs import ROOT

PEPPER = "pepper-0123456789abcdef-0123456789abcdef"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def registry(redis: RedisClient, namespace: str) -> ClientRegistry:
    return ClientRegistry(RedisClientStore(redis, KeySpace(namespace)), SecretHasher(PEPPER))


async def clients(redis_url: str, namespace: str, *argv: str, pepper: str = PEPPER) -> tuple[int, str, str]:
    """The command run in a thread (it runs its own event loop): exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    environ = {"QRLOGIN_CLIENT_SECRET_PEPPER": pepper}
    status = await asyncio.to_thread(
        clients_cli.run, [*argv, f"--redis-url={redis_url}", f"--namespace={namespace}"], environ, out, err
    )
    return status, out.getvalue(), err.getvalue()


async def test_a_confidential_client_gets_a_secret_once_kept_only_as_a_hash(
    registry: ClientRegistry, redis: RedisClient, namespace: str
) -> None:
    client, secret = await registry.register(name="Acme", redirect_uris=["https://acme.example/callback"])
    assert secret is not None and len(secret) >= 43  # 256 bits
    raw = await redis.hget(KeySpace(namespace).clients, client.client_id)
    assert raw is not None and secret not in raw
    assert json.loads(raw)["secret_hash"].startswith("hmac-sha256$")
    assert await redis.ttl(KeySpace(namespace).clients) == -1  # durable

    assert (await registry.authenticate(client.client_id, secret)).name == "Acme"
    for wrong in ("", None, secret[:-1] + ("A" if secret[-1] != "A" else "B"), "x" * 10_000):
        with pytest.raises(InvalidClient):
            await registry.authenticate(client.client_id, wrong)
    with pytest.raises(InvalidClient):
        await registry.authenticate("no-such-client", secret)


async def test_another_process_s_rotation_and_removal_reach_this_one_within_the_cache_ttl(
    redis: RedisClient, namespace: str
) -> None:
    now = [1000.0]
    here = ClientRegistry(RedisClientStore(redis, KeySpace(namespace)), SecretHasher(PEPPER), clock=lambda: now[0])
    elsewhere = ClientRegistry(RedisClientStore(redis, KeySpace(namespace)), SecretHasher(PEPPER))  # the command
    assert await here.find("acme-site") is None
    client, secret = await elsewhere.register(
        name="Acme", redirect_uris=["https://acme.example/callback"], client_id="acme-site"
    )
    assert secret is not None
    assert (await here.authenticate(client.client_id, secret)).client_id == "acme-site"  # unknown ids are not kept

    rotated = await elsewhere.rotate_secret(client.client_id)
    assert await here.authenticate(client.client_id, secret)  # the copy read a moment ago
    now[0] += CLIENT_CACHE_TTL
    with pytest.raises(InvalidClient):
        await here.authenticate(client.client_id, secret)
    assert await here.authenticate(client.client_id, rotated)

    await elsewhere.remove(client.client_id)
    assert await here.find(client.client_id) is not None
    now[0] += CLIENT_CACHE_TTL
    assert await here.find(client.client_id) is None


async def test_a_public_client_has_no_secret_and_may_not_send_one(registry: ClientRegistry) -> None:
    client, secret = await registry.register(
        name="Acme app", redirect_uris=["com.acme.app:/callback", "http://127.0.0.1:7000/cb"], public=True
    )
    assert secret is None and client.public
    assert (await registry.authenticate(client.client_id, None)).client_id == client.client_id
    with pytest.raises(InvalidClient):
        await registry.authenticate(client.client_id, "anything")
    with pytest.raises(ClientError):
        await registry.rotate_secret(client.client_id)


async def test_another_pepper_matches_no_secret_and_says_so(
    registry: ClientRegistry, redis: RedisClient, namespace: str
) -> None:
    client, secret = await registry.register(name="Acme", redirect_uris=["https://acme.example/callback"])
    other = ClientRegistry(RedisClientStore(redis, KeySpace(namespace)), SecretHasher("another-pepper-" + "x" * 32))
    with pytest.raises(InvalidClient):
        await other.authenticate(client.client_id, secret)
    assert other.secret_needs_rotation(await other.require(client.client_id))
    assert not registry.secret_needs_rotation(await registry.require(client.client_id))


@pytest.mark.parametrize(
    "uri",
    [
        "http://acme.example/callback",  # plain http off the loopback
        "https://acme.example/callback#fragment",
        "https://*.acme.example/callback",
        "/callback",
        "https://user:pass@acme.example/callback",
        "https://acme.example:99999/callback",
        "javascript:alert(1)",
        "acme:/callback",  # a private-use scheme must be a reverse domain name
        "https://acme.example/call back",
        "https://acme.example/" + "a" * 2100,
    ],
)
def test_redirect_uris_that_cannot_be_registered(uri: str) -> None:
    with pytest.raises(ClientError):
        check_redirect_uri(uri, public=True)


def test_redirect_uris_that_can() -> None:
    for uri in ("https://acme.example/cb?x=1", "http://localhost:8000/cb", "http://[::1]:9/cb", "http://127.0.0.1/cb"):
        assert check_redirect_uri(uri, public=False) == uri
    with pytest.raises(ClientError):
        check_redirect_uri("com.acme.app:/callback", public=False)  # private-use schemes: native (public) apps only


async def test_registrations_that_cannot_be(registry: ClientRegistry) -> None:
    good = ["https://acme.example/callback"]
    for kwargs in (
        {"name": "", "redirect_uris": good},
        {"name": "Acme", "redirect_uris": []},
        {"name": "Acme", "redirect_uris": good, "scopes": ["openid", "email"]},
        {"name": "Acme", "redirect_uris": good, "scopes": ["profile"]},
        {"name": "Acme", "redirect_uris": good, "client_id": "a b"},
    ):
        with pytest.raises(ClientError):
            await registry.register(**kwargs)  # type: ignore[arg-type]
    await registry.register(name="Acme", redirect_uris=good, client_id="acme")
    with pytest.raises(ClientError, match="taken"):
        await registry.register(name="Other", redirect_uris=good, client_id="acme")


async def test_the_clients_command_adds_lists_shows_rotates_and_removes(redis_url: str, namespace: str) -> None:
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable, "main.py", "clients", "add", "--name", "Acme", "--redirect-uri",
            "https://acme.example/callback", "--redirect-uri", "https://acme.example/other", "--id", "acme",
            f"--redis-url={redis_url}", f"--namespace={namespace}",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "QRLOGIN_CLIENT_SECRET_PEPPER": PEPPER},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "client_id:     acme" in done.stdout and "shown once" in done.stdout
    secret = next(line.split()[-1] for line in done.stdout.splitlines() if line.startswith("client_secret:"))

    status, out, _ = await clients(redis_url, namespace, "list", "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and listed["client_id"] == "acme" and listed["type"] == "confidential"
    assert listed["redirect_uris"] == ["https://acme.example/callback", "https://acme.example/other"]
    assert secret not in out

    status, out, _ = await clients(redis_url, namespace, "show", "acme")
    assert status == 0 and "name: Acme" in out and secret not in out and "secret_hash" not in out

    status, out, _ = await clients(redis_url, namespace, "rotate-secret", "acme", "--json")
    rotated = json.loads(out)["client_secret"]
    assert status == 0 and rotated and rotated != secret

    status, out, err = await clients(redis_url, namespace, "show", "acme", pepper="another-pepper-" + "y" * 32)
    assert status == 0 and "rotate-secret" in out

    status, out, _ = await clients(redis_url, namespace, "remove", "acme")
    assert status == 0
    status, _, err = await clients(redis_url, namespace, "show", "acme")
    assert status == 1 and "no client 'acme'" in err


async def test_the_clients_command_explains_what_is_wrong(redis_url: str, namespace: str) -> None:
    status, _, err = await clients(redis_url, namespace, "add", "--name", "Acme", "--redirect-uri", "http://x.example/")
    assert status == 1 and "https is required" in err
    status, _, err = await clients(redis_url, namespace, "add", "--redirect-uri", "https://x.example/")
    assert status == 1 and "--name" in err
    status, _, err = await clients(redis_url, namespace, "remove")
    assert status == 1 and "CLIENT_ID" in err
    status, _, err = await clients(redis_url, namespace, "list", pepper="short")
    assert status == 2 and "QRLOGIN_CLIENT_SECRET_PEPPER" in err
    status, out, _ = await clients(redis_url, namespace, "add", "--name", "SPA", "--public", "--redirect-uri",
                                   "https://spa.example/cb")  # fmt: skip
    assert status == 0 and "client_secret: none" in out
