"""Docker swarm with haproxy in front: pure models, planners, parsers, rendering inputs and statistics."""
