"""Periodic work of a worker process: SLA sweeper, surge windows, backlog/health alerts."""
