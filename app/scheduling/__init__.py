"""Missions that run themselves: stored runs, schedules, assignment, deconfliction, the driver."""
