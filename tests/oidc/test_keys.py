"""The signing keys: shared through Redis, rotated with no downtime, and nothing but our own signatures accepted."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest
from joserfc import jwe, jwt
from joserfc.jwk import OctKey, RSAKey

from oidc.key_set import CLOCK_SKEW, SigningKey
from oidc.keys import ACTIVATION_DELAY, BadToken, KeyRing
from redis_map import connect
from redis_map.connection.connect import RedisClient
from redis_map.keys import KeySpace
from redis_map.signing_keys import SigningKeyStore

#: the longest lifetime of a signed token in these tests
LIFETIME = 600.0
TYPE = "test+jwt"


class Clock:
    """A clock the test moves by hand (the key ring's, not the process's)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def store(redis: RedisClient, namespace: str) -> SigningKeyStore:
    return SigningKeyStore(redis, KeySpace(namespace))


def ring(store: SigningKeyStore, clock: Clock | None = None) -> KeyRing:
    return KeyRing(store, lifetime=LIFETIME, clock=clock or Clock())


def claims(clock: Clock, **extra: object) -> dict[str, object]:
    return {"sub": "alice", "iat": int(clock.now), "exp": int(clock.now + 60), **extra}


async def test_racing_instances_make_one_first_key_and_all_sign_with_it(store: SigningKeyStore) -> None:
    rings = [ring(store) for _ in range(4)]
    await asyncio.gather(*(each.ensure_signer() for each in rings))
    assert len(await store.load()) == 1
    kids = {
        jwt.decode(each.sign({"sub": "a"}, typ=TYPE), each.keys.verifier(each.clock())).header["kid"] for each in rings
    }
    assert len(kids) == 1


async def test_keys_survive_in_redis_without_a_ttl(store: SigningKeyStore, redis: RedisClient) -> None:
    await ring(store).ensure_signer()
    assert await redis.ttl(store.key) == -1  # durable: no TTL


async def test_a_rotated_key_is_published_before_it_signs_and_the_old_one_until_its_tokens_expire(
    store: SigningKeyStore,
) -> None:
    clock = Clock()
    keys = ring(store, clock)
    await keys.ensure_signer()
    old = keys.sign(claims(clock), typ=TYPE)
    old_kid = keys.keys.keys[0].kid

    new = SigningKey.generate(now=clock.now, signs_from=clock.now + ACTIVATION_DELAY)
    await store.add(new.kid, new.record())
    other_instance = ring(store, clock)
    await other_instance.refresh()

    # Published at once, everywhere, but the old key still signs.
    for each in (keys, other_instance):
        await each.refresh()
        assert [k["kid"] for k in each.keys.jwks(clock.now)["keys"]] == [old_kid, new.kid]
        assert _kid(each.sign(claims(clock), typ=TYPE)) == old_kid

    # Activation: every instance switches at the same moment, by the clock; the old token still verifies.
    clock.now += ACTIVATION_DELAY
    for each in (keys, other_instance):
        assert _kid(each.sign(claims(clock), typ=TYPE)) == new.kid
        assert each.decode(old, typ=TYPE)["sub"] == "alice"
        assert each.keys.state(each.keys.keys[0], clock.now) == "retired"

    # Until everything the old key signed has expired; then it is neither published nor accepted.
    clock.now += LIFETIME + CLOCK_SKEW - 1
    assert keys.decode(old, typ=TYPE)["sub"] == "alice"
    clock.now += 2
    assert [k["kid"] for k in keys.keys.jwks(clock.now)["keys"]] == [new.kid]
    with pytest.raises(BadToken):
        keys.decode(old, typ=TYPE)


async def test_a_token_from_a_key_not_yet_read_forces_one_re_read(store: SigningKeyStore) -> None:
    clock = Clock()
    signer, checker = ring(store, clock), ring(store, clock)
    await signer.ensure_signer()
    await checker.refresh()
    clock.now += 10
    new = SigningKey.generate(now=clock.now)  # an emergency rotation: signing at once
    await store.add(new.kid, new.record())
    await signer.refresh()
    token = signer.sign(claims(clock), typ=TYPE)
    with pytest.raises(BadToken):
        checker.decode(token, typ=TYPE)  # its copy predates the key
    assert (await checker.decode_fresh(token, typ=TYPE))["sub"] == "alice"


async def test_an_unreadable_record_is_skipped_not_fatal(store: SigningKeyStore) -> None:
    keys = ring(store)
    await keys.ensure_signer()
    await store.add("broken", "{not json")
    await keys.refresh()
    assert len(keys.keys.keys) == 1
    keys.sign({"sub": "a"}, typ=TYPE)


async def test_only_our_signatures_of_the_right_type_are_accepted(store: SigningKeyStore) -> None:
    clock = Clock()
    keys = ring(store, clock)
    await keys.ensure_signer()
    good = keys.sign(claims(clock), typ=TYPE)
    signing = keys.keys.keys[0]
    header, payload, signature = good.split(".")
    public = signing.key.as_dict(private=False)

    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    foreign = SigningKey.generate(now=clock.now)
    refused = {
        "tampered payload": f"{header}.{b64({'sub': 'mallory', 'exp': int(clock.now + 60)})}.{signature}",
        "another key": jwt.encode({"alg": "RS256", "kid": signing.kid, "typ": TYPE}, claims(clock), foreign.key),
        "alg none": f"{b64({'alg': 'none', 'kid': signing.kid, 'typ': TYPE})}.{payload}.",
        "HS256 keyed with our public key": jwt.encode(
            {"alg": "HS256", "kid": signing.kid, "typ": TYPE},
            claims(clock),
            OctKey.import_key(json.dumps(public).encode()),
        ),
        "a JWE to our public key": jwe.encrypt_compact(
            {"alg": "RSA-OAEP", "enc": "A256GCM", "kid": signing.kid, "typ": TYPE},
            json.dumps(claims(clock)).encode(),
            RSAKey.import_key({k: v for k, v in public.items() if k != "use"}),  # the published half is enough
        ),
        "another type": keys.sign(claims(clock), typ="JWT"),
        "no kid": jwt.encode({"alg": "RS256", "typ": TYPE}, claims(clock), signing.key),
        "garbage": "not.a.token",
        "too long": good + "A" * 9000,
        "empty": "",
    }
    for name, token in refused.items():
        with pytest.raises(BadToken):
            keys.decode(token, typ=TYPE)
            pytest.fail(f"accepted: {name}")
    assert keys.decode(good, typ=TYPE)["sub"] == "alice"


async def test_claims_are_checked_with_a_few_seconds_of_leeway(store: SigningKeyStore) -> None:
    clock = Clock()
    keys = ring(store, clock)
    keys.validate({"exp": clock.now - 1, "iss": "x"}, iss={"essential": True, "value": "x"})  # within the leeway
    for bad in ({"exp": clock.now - 10, "iss": "x"}, {"exp": clock.now + 60, "iss": "y"}, {"exp": clock.now + 60}):
        with pytest.raises(BadToken):
            keys.validate(bad, iss={"essential": True, "value": "x"})


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


async def test_a_re_read_parses_only_new_keys_and_checks_each_kid(store: SigningKeyStore) -> None:
    keys = ring(store)
    await keys.ensure_signer()
    [first] = keys.keys.keys
    await keys.refresh()
    assert keys.keys.keys[0] is first  # the same parsed key: a re-read costs no key loading
    record = json.loads(first.record())
    record["kid"] = "A" * 43
    await store.add("A" * 43, json.dumps(record))  # a record whose kid is not its key's thumbprint
    await keys.refresh()
    assert [key.kid for key in keys.keys.keys] == [first.kid]


async def test_a_key_stored_in_the_first_records_form_still_loads(store: SigningKeyStore) -> None:
    key = SigningKey.generate(now=1_800_000_000.0)
    old_form = {"jwk": key.key.as_dict(private=True), "created_at": key.created_at, "signs_from": key.signs_from}
    await store.add(key.kid, json.dumps(old_form))
    keys = ring(store)
    await keys.refresh()
    assert [loaded.kid for loaded in keys.keys.keys] == [key.kid]
