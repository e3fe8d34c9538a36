"""Flight recipes per autopilot family: the order of commands that a given firmware accepts."""
