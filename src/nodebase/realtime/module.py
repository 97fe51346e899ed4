"""The Realtime module: the ``realtime.publish`` / ``realtime.subscribe`` permissions, the
broker picked by ``NODEBASE_BROKER_URL``, the Data module's after-events → ``data:*``
channels, and the ``/api/realtime`` (WebSocket) and ``/api/realtime/sse`` routes.

Applications use :attr:`RealtimeModule.service` (:class:`RealtimeService`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nodebase.data.module import DataModule
from nodebase.data.service import CREATE_AFTER, DELETE_AFTER, UPDATE_AFTER
from nodebase.kernel.caller import Caller
from nodebase.kernel.node import Node
from nodebase.kernel.permissions import Permission
from nodebase.realtime.broker import BrokerSettings, make_broker
from nodebase.realtime.connection import Limits
from nodebase.realtime.openapi import realtime_paths
from nodebase.realtime.service import PUBLISH, SUBSCRIBE, RealtimeService
from nodebase.realtime.transport import WEBSOCKET_PATH, RealtimeEndpoints, routes

if TYPE_CHECKING:
    from nodebase.auth.module import AuthModule

PERMISSIONS = [
    Permission(SUBSCRIBE, description="subscribe to custom channels (policies may match the channel)"),
    Permission(PUBLISH, description="publish on custom channels (policies may match the channel)"),
]


class RealtimeModule:
    name = "realtime"

    def __init__(self, nb: Node, data: DataModule, auth: AuthModule | None = None) -> None:
        s = nb.settings
        for perm in PERMISSIONS:
            nb.permissions.add(perm)
        broker, presence = make_broker(s.broker_url, BrokerSettings(
            history_size=s.realtime_history_size, history_ttl=float(s.realtime_history_ttl),
            presence_ttl=float(s.realtime_presence_ttl)), nb.instance_id)
        self.service = RealtimeService(broker, presence, data.service, nb.guard, nb.db.dialect.name,
                                       queue_size=s.realtime_queue_size)
        self.limits = Limits(queue_size=s.realtime_queue_size, max_subscriptions=s.realtime_max_subscriptions,
                             max_frame=s.realtime_max_frame, rate=s.realtime_rate,
                             ping_interval=float(s.realtime_ping_interval),
                             idle_timeout=float(s.realtime_idle_timeout),
                             history_size=s.realtime_history_size)
        authenticate = None
        if auth is not None:
            service = auth.service

            async def authenticate(token: str) -> Caller:
                return await service.caller_from("Bearer " + token, None, None)

        self.endpoints = RealtimeEndpoints(self.service, self.limits, nb, authenticate)
        for name in (CREATE_AFTER, UPDATE_AFTER, DELETE_AFTER):
            nb.events.on(name, self.service.on_data_event)
        nb.add_routes(routes(self.endpoints))
        nb.add_websocket(WEBSOCKET_PATH, self.endpoints.websocket)
        nb.add_openapi(realtime_paths)
        nb.on_start(self.service.start)
        nb.on_stop(self.stop)

    async def stop(self) -> None:
        await self.endpoints.close_all()
        await self.service.stop()

    def describe(self) -> dict[str, Any]:
        return {"connections": len(self.endpoints.connections), "channels": len(self.service.hub.channels)}
