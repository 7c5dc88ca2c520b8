"""The deploy half: environments, version resolution, rolling out to hosts, health checks, rollback, promotion."""
