"""Kollega's adapters: the Telegram bot, the terminal try-out and the command line."""
