"""The engine's side of the admin UI: read queries, accounts, roles, tenant set-up, the connection check.

Where it sits: below :mod:`admin_ui` (its pages and services call these), beside :mod:`engine.api`.
"""
