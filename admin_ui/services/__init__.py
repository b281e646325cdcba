"""admin_ui.services."""
