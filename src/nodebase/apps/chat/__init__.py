"""The chat application (issue 9): rooms, messages, members and profiles as Data entities,
users from Auth, fan-out, presence and delivery order from Realtime. See docs/chat.md."""
