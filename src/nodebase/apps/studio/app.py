"""StudioApp: registers Nano Studio's Data entities and routes on a node (``apps = ["studio"]``)."""

from __future__ import annotations

import copy
from typing import Any

from nodebase.apps.studio.clock import clock_from_env
from nodebase.apps.studio.entities import ENTITIES
from nodebase.apps.studio.openapi import studio_paths
from nodebase.apps.studio.service import StudioService
from nodebase.apps.studio.transport import routes
from nodebase.kernel.node import Node


class StudioApp:
    name = "studio"

    def __init__(self, nb: Node, data: Any, auth: Any, media: Any, knowledge: Any) -> None:
        for name, spec in ENTITIES.items():
            data.register_system_entity(name, copy.deepcopy(spec))
        self.service = StudioService(data.service, auth.service, media.service, knowledge.service,
                                     allow_private=nb.settings.fetch_allow_private, clock=clock_from_env())
        first, others = routes(self.service, nb, auth, nb.settings.llm_model or
                               ("extractive" if not nb.settings.llm_url else "default"))
        nb.add_routes(first, first=True)
        nb.add_routes(others)
        nb.add_openapi(studio_paths)
