"""The chat's gRPC listener (grpcio's asyncio server), started and stopped with the node."""

from __future__ import annotations

import logging

import grpc

from nodebase.apps.chat.rpc import chat_pb2_grpc as pbg
from nodebase.apps.chat.rpc.servicers import ChatServicer, UserServicer
from nodebase.apps.chat.service import ChatService

log = logging.getLogger("nodebase.chat")


class GrpcPortTaken(RuntimeError):
    pass


class ChatGrpcServer:
    def __init__(self, service: ChatService, host: str, port: int) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.server: grpc.aio.Server | None = None

    async def start(self) -> None:
        # no SO_REUSEPORT: a port already taken must stop serve, not be shared silently
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        pbg.add_ChatServiceServicer_to_server(ChatServicer(self.service), server)
        pbg.add_UserServiceServicer_to_server(UserServicer(self.service), server)
        address = f"{self.host}:{self.port}"
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise GrpcPortTaken(f"the chat's gRPC port {address} cannot be bound ({exc}); set "
                                "NODEBASE_GRPC_PORT to a free port, or 0 to switch gRPC off") from None
        if not bound:
            raise GrpcPortTaken(f"the chat's gRPC port {address} is already in use; set NODEBASE_GRPC_PORT "
                                "to a free port, or 0 to switch gRPC off")
        await server.start()
        self.server = server
        log.info("chat gRPC listening on %s", address)

    async def stop(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            await server.stop(5)
