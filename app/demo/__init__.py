"""`aerogrid demo`: a live district on one machine.

The embedded PostgreSQL, the sample district, a simulated (or SITL) fleet docked in it, the service
with its page, patrols flown by the real scheduler, and faults and detections injected now and then so
that alerts and work orders appear. ``run.py`` wires the parts: ``console.py`` (progress, the one
start-up block, logging to a file), ``fleet.py`` (vehicles, registration, dock charging),
``patrols.py`` (missions and schedules through the API) and ``events.py`` (faults and detections).
"""
