"""Kollega's conversations: domain words, state machines and decision tables.

Nothing in this package knows about Telegram or SQL. It can be tested, drawn
and run in a terminal without a bot token.
"""
