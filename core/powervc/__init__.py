"""Pure logic of the PowerVC area: models, planners, configuration-file checks (no I/O)."""
