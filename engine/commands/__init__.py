"""Extra ``muster`` commands. Each module here may define ``register(group: click.Group)``; :mod:`engine.cli`
calls it at start-up, so a feature adds its commands without editing the CLI's core."""
