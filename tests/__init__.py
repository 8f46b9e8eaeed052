"""FieldPatrol tests (a package, so tests/<name>/ never shadows the <name> package)."""
