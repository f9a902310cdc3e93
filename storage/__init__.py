"""Kollega's storage: schema, migrations and queries (SQLAlchemy 2 async).

Query functions take a session first and return plain data, never live ORM
objects, and no session is held across a wait for a user.
"""
