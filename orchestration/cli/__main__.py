"""``python -m orchestration.cli`` runs the ``smartmarket`` CLI."""

from orchestration.cli import main

main()
