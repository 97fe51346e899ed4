"""WebAuthn challenges in the database: single use, expiring, bound to their purpose —
on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import pytest

from nodebase.auth.repository import Challenge, ChallengeRepository, ddl
from nodebase.kernel.database import open_database

_n = itertools.count(1)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'c.db'}"
    url: str = request.getfixturevalue("postgres").create_database(f"nb_ch_{os.getpid()}_{next(_n)}")
    return url


def test_challenges_are_single_use_expiring_and_purpose_bound(database_url: str) -> None:
    async def run() -> None:
        db = open_database(database_url)
        await db.connect()
        try:
            await db.execute_script(ddl(db))
            repo = ChallengeRepository(db)
            now = time.time()
            await repo.add(Challenge("fresh", "passkey.login", "7", {"k": 1}, now + 60))
            await repo.add(Challenge("stale", "passkey.login", None, {}, now - 1))
            await repo.add(Challenge("reg", "passkey.register", "7", {}, now + 60))
            taken = await repo.take("fresh", "passkey.login")
            assert taken is not None and taken.user_id == "7" and taken.data == {"k": 1}
            assert await repo.take("fresh", "passkey.login") is None  # used
            assert await repo.take("stale", "passkey.login") is None  # expired
            assert await repo.take("reg", "passkey.login") is None  # another purpose
            assert await repo.take("reg", "passkey.register") is not None
            assert await repo.take("never-issued", "passkey.login") is None
            # two concurrent verifications of one challenge: exactly one wins
            await repo.add(Challenge("race", "passkey.login", None, {}, now + 60))
            results = await asyncio.gather(*(repo.take("race", "passkey.login") for _ in range(5)))
            assert sum(r is not None for r in results) == 1
        finally:
            await db.close()

    asyncio.run(run())


def test_one_challenge_raced_from_two_nodes_is_taken_once(database_url: str) -> None:
    """Two database handles (as two processes have), each with several concurrent takers."""
    async def run() -> None:
        one, two = open_database(database_url), open_database(database_url)
        await one.connect()
        await two.connect()
        try:
            await one.execute_script(ddl(one))
            repos = [ChallengeRepository(one), ChallengeRepository(two)]
            for round_ in range(20):
                name = f"race-{round_}"
                await repos[round_ % 2].add(Challenge(name, "passkey.login", None, {"r": round_}, time.time() + 60))
                results = await asyncio.gather(*(repos[i % 2].take(name, "passkey.login") for i in range(8)))
                winners = [r for r in results if r is not None]
                assert len(winners) == 1, (round_, results)
                assert winners[0].data == {"r": round_}
        finally:
            await one.close()
            await two.close()

    asyncio.run(run())


def test_oauth_identities_are_unique_per_provider_account(database_url: str) -> None:
    from nodebase.auth.repository import Identity, IdentityRepository
    from nodebase.kernel.errors import Conflict

    async def run() -> None:
        db = open_database(database_url)
        await db.connect()
        try:
            await db.execute_script(ddl(db))
            repo = IdentityRepository(db)
            await repo.add(Identity("oidc", "sub-1", "7", "a@x.example", 1.5))
            await repo.add(Identity("github", "sub-1", "8", None, 2.0))  # same subject, other provider
            got = await repo.get("oidc", "sub-1")
            assert got == Identity("oidc", "sub-1", "7", "a@x.example", 1.5)
            assert (await repo.of_user("github", "8")) == Identity("github", "sub-1", "8", None, 2.0)
            assert await repo.of_user("oidc", "8") is None
            with pytest.raises(Conflict) as info:  # a concurrent sign-in linked it first
                await repo.add(Identity("oidc", "sub-1", "9", "b@x.example", 3.0))
            assert info.value.context == {"reason": "already_linked", "strategy": "oidc"}
            await repo.delete("oidc", "sub-1")
            assert await repo.get("oidc", "sub-1") is None
        finally:
            await db.close()

    asyncio.run(run())
