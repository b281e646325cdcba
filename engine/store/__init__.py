"""Persistence: the models, column types, the unit of work (commit, then enqueue) and the migrations.

Where it sits: under every stage that reads or writes rows (ingest, sync, delegation, lifecycle, admin).
"""
