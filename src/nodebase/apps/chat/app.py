"""ChatApp: registers the chat's entities and routes on a node (enabled by ``apps = ["chat"]``
/ ``NODEBASE_APPS=chat``)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from nodebase.apps.chat.entities import ENTITIES, MESSAGES, ROOMS
from nodebase.apps.chat.http import routes
from nodebase.apps.chat.openapi import chat_paths
from nodebase.apps.chat.service import ChatService, ChatSettings
from nodebase.apps.chat.ws import ChatEndpoint
from nodebase.kernel.node import Node

if TYPE_CHECKING:
    from nodebase.auth.module import AuthModule
    from nodebase.data.module import DataModule
    from nodebase.realtime.module import RealtimeModule


class ChatApp:
    name = "chat"

    def __init__(self, nb: Node, data: DataModule, auth: AuthModule, realtime: RealtimeModule) -> None:
        for name, spec in ENTITIES.items():
            data.register_system_entity(name, copy.deepcopy(spec))
        s = nb.settings
        # the chat publishes its messages itself (chat:<room>): no data:chat_* feed per row change
        for name in (MESSAGES, ROOMS):
            realtime.service.silence(name)
        self.service = ChatService(data.service, auth.service, realtime.service,
                                   ChatSettings(auto_create_rooms=s.chat_auto_create_rooms,
                                                send_rate=s.chat_send_rate))
        self.endpoint = ChatEndpoint(self.service, nb, s.chat_frame_rate)
        nb.add_routes(routes(self.service, self.endpoint, nb))
        nb.add_openapi(chat_paths)
        nb.on_stop(self.service.stop)
        self.grpc = None
        if s.grpc_port:
            from nodebase.apps.chat.rpc.server import ChatGrpcServer

            self.grpc = ChatGrpcServer(self.service, s.grpc_host or s.host, s.grpc_port)
            nb.on_start(self.grpc.start)
            nb.on_stop(self.grpc.stop)

    def describe(self) -> dict[str, Any]:
        return {"connections": len(self.endpoint.sockets)}
