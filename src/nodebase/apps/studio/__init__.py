"""Nano Studio: seed 003's notebook service (shared/protocols/studio.md), on the public
interfaces of Data, Auth, Media and Knowledge. See docs/studio.md."""
