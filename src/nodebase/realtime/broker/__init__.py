"""Pick the broker and presence store from ``NODEBASE_BROKER_URL`` (empty: in process)."""

from __future__ import annotations

from nodebase.realtime.broker.base import (
    Broker,
    BrokerSettings,
    History,
    PresenceEntry,
    PresenceStore,
    Publication,
)


def make_broker(url: str, settings: BrokerSettings, node_id: str) -> tuple[Broker, PresenceStore]:
    if not url or url.startswith("memory:"):
        from nodebase.realtime.broker.memory import MemoryBroker, MemoryPresence

        return MemoryBroker(settings), MemoryPresence()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from nodebase.realtime.broker.redis import RedisBroker, RedisPresence

        broker = RedisBroker(url, settings)
        return broker, RedisPresence(broker, settings, node_id)
    raise ValueError(f"NODEBASE_BROKER_URL: unsupported scheme in {url.split('://')[0]!r} "
                     "(use redis://host:port/db or leave it empty)")


__all__ = ["Broker", "BrokerSettings", "History", "PresenceEntry", "PresenceStore", "Publication",
           "make_broker"]
