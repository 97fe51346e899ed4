"""The admin web UI at ``/admin``: static ES modules and one CSS file, served by nodebase.

The page talks to the node only through its public HTTP API, so every action is checked by
the server's permissions; see docs/admin.md.
"""
