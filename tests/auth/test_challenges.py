"""WebAuthn challenges in the database: single use, expiring, bound to their purpose."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from nodebase.auth.repository import Challenge, ChallengeRepository, ddl
from nodebase.kernel.database import open_database


def test_challenges_are_single_use_expiring_and_purpose_bound(tmp_path: Path) -> None:
    async def run() -> None:
        db = open_database(f"sqlite:///{tmp_path / 'c.db'}")
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
