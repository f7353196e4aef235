"""``python main.py keys``: list, rotate, remove and prune the shared signing keys."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys

from oidc.key_set import SigningKey
from oidc.keys import ACTIVATION_DELAY
from runtime import keys_cli
from tests.procs import ROOT
from tests.service import Instance


async def keys(redis_url: str, namespace: str, *argv: str) -> tuple[int, str, str]:
    """The command run in a thread (it runs its own event loop): exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    status = await asyncio.to_thread(
        keys_cli.run, [*argv, f"--redis-url={redis_url}", f"--namespace={namespace}"], {}, out, err
    )
    return status, out.getvalue(), err.getvalue()


async def listed(redis_url: str, namespace: str) -> list[dict[str, str]]:
    status, out, err = await keys(redis_url, namespace, "list", "--json")
    assert status == 0, err
    return [json.loads(line) for line in out.splitlines()]


async def test_rotate_publishes_a_pending_key_that_the_service_serves_before_it_signs(
    service: Instance, redis_url: str, namespace: str
) -> None:
    [first] = await listed(redis_url, namespace)
    assert first["state"] == "signing" and first["published_until"] == "-"

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "main.py", "keys", "rotate", f"--redis-url={redis_url}", f"--namespace={namespace}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "published now, signing from" in done.stdout
    first_now, pending = await listed(redis_url, namespace)
    assert first_now["kid"] == first["kid"] and first_now["state"] == "signing"
    assert pending["state"] == "pending"

    await service.services.provider.keys.refresh()  # type: ignore[union-attr]  # (every 30 s on its own)
    served = (await service.request("GET", "/jwks.json")).body["keys"]
    assert [key["kid"] for key in served] == [first["kid"], pending["kid"]]


async def test_the_key_signing_now_is_not_removed_without_force(
    redis_url: str, namespace: str, service: Instance
) -> None:
    [signing] = await listed(redis_url, namespace)
    status, _, err = await keys(redis_url, namespace, "remove", signing["kid"])
    assert status == 1 and "is the key signing now" in err, err
    assert len(await listed(redis_url, namespace)) == 1

    status, _, err = await keys(redis_url, namespace, "remove", "no-such-kid")
    assert status == 1 and "no key" in err


async def test_a_kid_beginning_with_a_dash_is_read_as_the_kid(redis_url: str, namespace: str) -> None:
    """One thumbprint in 64 begins with '-': argparse alone took it for an unknown option (or '-h...' for help)."""
    for kid in ("-" + "A" * 42, "-h" + "A" * 41, "--j" + "A" * 40):
        status, _, err = await keys(redis_url, namespace, "remove", kid)
        assert status == 1 and f"no key {kid!r}" in err, err
    status, _, err = await keys(redis_url, namespace, "remove", "-" + "A" * 42, "-" + "B" * 42)
    assert status == 2 and "one KID at most" in err, err


async def test_an_emergency_rotation_then_removing_the_compromised_key(
    redis_url: str, namespace: str, service: Instance
) -> None:
    [compromised] = await listed(redis_url, namespace)
    status, _, err = await keys(redis_url, namespace, "rotate", "--activate-in", "0")
    assert status == 0 and "some tokens may be refused" in err, err
    status, out, err = await keys(redis_url, namespace, "remove", compromised["kid"])
    assert status == 0 and "removed" in out, (out, err, await listed(redis_url, namespace))
    [left] = await listed(redis_url, namespace)
    assert left["state"] == "signing" and left["kid"] != compromised["kid"]


async def test_prune_deletes_only_keys_past_their_publication(
    redis_url: str, namespace: str, service: Instance
) -> None:
    store = service.services.provider.keys._source  # type: ignore[union-attr]
    now = service.services.provider.keys.clock()  # type: ignore[union-attr]
    # A key retired two days ago (its successor began signing a day ago), that successor (retired when the
    # service's first key began signing, moments ago: its tokens may live on), and the current one.
    ancient = SigningKey.generate(now=now - 3 * 86400, signs_from=now - 3 * 86400)
    recent = SigningKey.generate(now=now - 86400, signs_from=now - 86400)
    await store.add(ancient.kid, ancient.record())
    await store.add(recent.kid, recent.record())
    states = {row["kid"]: row["state"] for row in await listed(redis_url, namespace)}
    assert states[ancient.kid] == "expired" and states[recent.kid] == "retired"
    status, out, _ = await keys(redis_url, namespace, "prune")
    assert status == 0 and out.strip() == "pruned 1 key(s)"
    assert [row["state"] for row in await listed(redis_url, namespace)] == ["retired", "signing"]


async def test_rotate_refuses_a_negative_delay_and_needs_a_redis_url(redis_url: str, namespace: str) -> None:
    status, _, err = await keys(redis_url, namespace, "rotate", "--activate-in", "-5")
    assert status == 1 and "--activate-in" in err
    out, err_text = io.StringIO(), io.StringIO()
    assert keys_cli.run(["list"], {}, out, err_text) == 2 and "--redis-url" in err_text.getvalue()
    out, err_text = io.StringIO(), io.StringIO()
    assert keys_cli.run(["spin"], {}, out, err_text) == 2
    assert ACTIVATION_DELAY > 0
