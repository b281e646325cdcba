"""Command line entry point (filled in by the foundation)."""
def main() -> None:  # pragma: no cover - replaced
    raise SystemExit("muster CLI not built yet")
