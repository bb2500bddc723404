"""Scheduled jobs: the catalog, the scheduler, the run log and one module per job."""
