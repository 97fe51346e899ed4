"""Sign-in and sign-up throttling that an attacker cannot turn against the account's owner.

OWASP's Authentication cheat sheet ("Protect against automated attacks", "Slow down online
guessing attacks with device cookies"), three tiers for failed sign-ins:

1. **account + address** (or account + device): the first ``free_attempts`` failures cost
   nothing; each later one makes that pair wait ``first_delay * 2**k`` seconds (1, 2, 4, … up
   to ``max_delay``) before the next try. The counter lives ``PAIR_WINDOW`` (24 h) and a
   successful sign-in from that address clears it. Someone hammering an account from one
   address slows down only themself: the owner signing in from anywhere else is not affected.
2. **address**: at most ``max_per_ip`` failures per ``window`` from one address over all
   accounts (password spraying).
3. **account**: at most ``max_per_account`` failures per ``window`` over all addresses, so many
   addresses together cannot guess faster. This tier does not apply to a client holding the
   account's **device cookie** (issued at each successful sign-in): the owner's own browsers
   keep working while a distributed attack trips it.

Failed passkey sign-ins count against the address budget only (a signature cannot be guessed).
Registrations are counted per address too: ``register_per_ip`` per ``window``.

A refused attempt is answered 429 + ``Retry-After`` before the password is even checked, and
does not count as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodebase.auth.config import RateLimitConfig
from nodebase.auth.ratelimit import Limiter, retry_after
from nodebase.kernel.errors import TooManyRequests

#: how long the account+address counter remembers failures (a success clears it sooner)
PAIR_WINDOW = 24 * 3600


@dataclass(frozen=True)
class Attempt:
    """Who tries to sign in to which account; ``device`` is the nonce of a valid device cookie."""

    ip: str
    account: str
    device: str | None = None

    @property
    def pair(self) -> str:
        who = "device:" + self.device if self.device else "ip:" + self.ip
        return f"pair:{self.account}|{who}"


def _refuse(what: str, wait: float) -> TooManyRequests:
    after = retry_after(wait)
    return TooManyRequests(
        f"Too many failed sign-in attempts {what}; try again in {after} s",
        context={"retry_after": int(after)},
        headers={"Retry-After": after},
    )


class Throttle:
    def __init__(self, limiter: Limiter, cfg: RateLimitConfig) -> None:
        self.limiter = limiter
        self.cfg = cfg

    async def check(self, attempt: Attempt) -> None:
        """Raise 429 when this attempt has to wait."""
        cfg = self.cfg
        if not cfg.enabled:
            return
        wait = await self.limiter.held(attempt.pair)
        if wait > 0:
            raise _refuse("for this account from here", wait)
        if attempt.device:
            return  # the owner's device: the address and account budgets do not apply
        if await self.limiter.count("ip:" + attempt.ip) >= cfg.max_per_ip:
            raise _refuse("from this address", cfg.window)
        if await self.limiter.count("account:" + attempt.account) >= cfg.max_per_account:
            raise _refuse("for this account (sign in from a device you used before, or wait)",
                          cfg.window)

    async def failed(self, attempt: Attempt) -> None:
        cfg = self.cfg
        if not cfg.enabled:
            return
        n = await self.limiter.hit(attempt.pair, PAIR_WINDOW)
        if n >= cfg.free_attempts:
            delay = cfg.first_delay * 2.0 ** min(n - cfg.free_attempts, 32)
            await self.limiter.hold(attempt.pair, min(cfg.max_delay, delay))
        if not attempt.device:
            await self.limiter.hit("ip:" + attempt.ip, cfg.window)
        await self.limiter.hit("account:" + attempt.account, cfg.window)

    async def succeeded(self, attempt: Attempt) -> None:
        if self.cfg.enabled:
            await self.limiter.reset(attempt.pair)

    async def check_address(self, ip: str) -> None:
        """The address budget alone (passkey sign-in: a signature cannot be guessed, so there is
        no per-account delay; failures still count against the address)."""
        if self.cfg.enabled and await self.limiter.count("ip:" + ip) >= self.cfg.max_per_ip:
            raise _refuse("from this address", self.cfg.window)

    async def failed_address(self, ip: str) -> None:
        if self.cfg.enabled:
            await self.limiter.hit("ip:" + ip, self.cfg.window)

    async def registration(self, ip: str) -> None:
        """Count one registration from ``ip``; 429 when its budget is spent."""
        cfg = self.cfg
        if not cfg.enabled:
            return
        key = "register:" + ip
        if await self.limiter.count(key) >= cfg.register_per_ip:
            raise TooManyRequests(
                f"Too many registrations from this address; try again later (at most "
                f"{cfg.register_per_ip} per {cfg.window} s)",
                context={"retry_after": cfg.window, "setting": "auth.rate_limit.register_per_ip"},
                headers={"Retry-After": str(cfg.window)},
            )
        await self.limiter.hit(key, cfg.window)
