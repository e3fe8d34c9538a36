-- Telemetry dropped because the disk spool was full during a database outage: raised once per drone
-- when the database is back (app/telemetry/pipeline.py, docs/telemetry.md). Every earlier type is kept.
ALTER TABLE alerts DROP CONSTRAINT alerts_type_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_type_check CHECK (type IN (
    'geofence_breach', 'battery_low', 'battery_return_home', 'link_lost',
    'gps_degraded', 'ekf_unhealthy', 'route_deviation', 'unexpected_mode',
    'autopilot_message', 'mission_stalled', 'quiet_zone_broadcast', 'no_photo_zone_photo',
    'run_skipped', 'run_failed', 'telemetry_dropped'));
