TABLE alerts
  COLUMN id bigint NOT NULL
  COLUMN drone_id bigint NOT NULL
  COLUMN type text NOT NULL
  COLUMN condition_key text NOT NULL DEFAULT ''::text
  COLUMN severity text NOT NULL
  COLUMN state text NOT NULL DEFAULT 'open'::text
  COLUMN message text NOT NULL
  COLUMN evidence jsonb NOT NULL DEFAULT '{}'::jsonb
  COLUMN clear_evidence jsonb NULL
  COLUMN grid_code text NULL
  COLUMN community_code text NULL
  COLUMN upload_id bigint NULL
  COLUMN mission_id bigint NULL
  COLUMN sortie integer NULL
  COLUMN lat_deg double precision NULL
  COLUMN lon_deg double precision NULL
  COLUMN alt_rel_m double precision NULL
  COLUMN opened_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN updated_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN update_count integer NOT NULL DEFAULT 0
  COLUMN cleared_at timestamp with time zone NULL
  COLUMN acked_at timestamp with time zone NULL
  COLUMN acked_by bigint NULL
  COLUMN acked_by_name text NULL
TABLE api_tokens
  COLUMN id bigint NOT NULL
  COLUMN name text NOT NULL
  COLUMN prefix text NOT NULL
  COLUMN token_hash bytea NOT NULL
  COLUMN role text NOT NULL
  COLUMN communities _text NULL
  COLUMN created_by bigint NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN last_used_at timestamp with time zone NULL
  COLUMN revoked_at timestamp with time zone NULL
TABLE communities
  COLUMN code text NOT NULL
  COLUMN name text NOT NULL
  COLUMN street_code text NOT NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN updated_at timestamp with time zone NOT NULL DEFAULT now()
TABLE detection_alerts
  COLUMN id bigint NOT NULL
  COLUMN type text NOT NULL
  COLUMN severity text NOT NULL
  COLUMN state text NOT NULL DEFAULT 'open'::text
  COLUMN grid_code text NULL
  COLUMN community_code text NULL
  COLUMN lat_deg double precision NOT NULL
  COLUMN lon_deg double precision NOT NULL
  COLUMN detection_count integer NOT NULL DEFAULT 1
  COLUMN first_seen_at timestamp with time zone NOT NULL
  COLUMN last_seen_at timestamp with time zone NOT NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
TABLE detections
  COLUMN id bigint NOT NULL
  COLUMN idempotency_key text NOT NULL
  COLUMN type text NOT NULL
  COLUMN source text NOT NULL
  COLUMN confidence double precision NOT NULL
  COLUMN detected_at timestamp with time zone NOT NULL
  COLUMN position jsonb NOT NULL
  COLUMN lat_deg double precision NOT NULL
  COLUMN lon_deg double precision NOT NULL
  COLUMN grid_code text NULL
  COLUMN community_code text NULL
  COLUMN drone_id bigint NULL
  COLUMN upload_id bigint NULL
  COLUMN image_url text NULL
  COLUMN image_file text NULL
  COLUMN image_type text NULL
  COLUMN note text NULL
  COLUMN alert_id bigint NOT NULL
  COLUMN created_by text NOT NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN image_sha256 text NULL
TABLE district_settings
  COLUMN singleton boolean NOT NULL DEFAULT true
  COLUMN ceiling_m double precision NOT NULL DEFAULT 120
  COLUMN updated_at timestamp with time zone NOT NULL DEFAULT now()
TABLE drone_uploads
  COLUMN id bigint NOT NULL
  COLUMN drone_id bigint NOT NULL
  COLUMN mission_id bigint NULL
  COLUMN sortie integer NOT NULL DEFAULT 0
  COLUMN item_count integer NOT NULL
  COLUMN status text NOT NULL
  COLUMN verified_by text NULL
  COLUMN attempts integer NOT NULL DEFAULT 0
  COLUMN error text NULL
  COLUMN created_by bigint NULL
  COLUMN started_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN finished_at timestamp with time zone NULL
TABLE drones
  COLUMN id bigint NOT NULL
  COLUMN name text NOT NULL
  COLUMN kind text NOT NULL DEFAULT 'real'::text
  COLUMN endpoint text NOT NULL
  COLUMN sysid integer NOT NULL
  COLUMN signing_key bytea NULL
  COLUMN community_code text NULL
  COLUMN home_lon_deg double precision NOT NULL
  COLUMN home_lat_deg double precision NOT NULL
  COLUMN home_alt_m double precision NOT NULL DEFAULT 0
  COLUMN capabilities jsonb NOT NULL DEFAULT '{}'::jsonb
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN updated_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN link_blocked boolean NOT NULL DEFAULT false
TABLE grid_patrols
  COLUMN id bigint NOT NULL
  COLUMN grid_code text NOT NULL
  COLUMN upload_id bigint NOT NULL
  COLUMN drone_id bigint NOT NULL
  COLUMN mission_id bigint NULL
  COLUMN sortie integer NOT NULL
  COLUMN started_at timestamp with time zone NOT NULL
  COLUMN ended_at timestamp with time zone NOT NULL
  COLUMN samples integer NOT NULL
  COLUMN camera_samples integer NOT NULL
  COLUMN grid_m2 double precision NOT NULL
  COLUMN seen_m2 double precision NOT NULL
  COLUMN seen_share double precision NOT NULL
  COLUMN unseen jsonb NOT NULL
  COLUMN alt_band_m double precision NOT NULL
  COLUMN final boolean NOT NULL
  COLUMN computed_at timestamp with time zone NOT NULL DEFAULT now()
TABLE grids
  COLUMN code text NOT NULL
  COLUMN name text NOT NULL
  COLUMN community_code text NOT NULL
  COLUMN worker_name text NULL
  COLUMN worker_phone text NULL
  COLUMN boundary jsonb NOT NULL
  COLUMN min_lon_deg double precision NOT NULL
  COLUMN min_lat_deg double precision NOT NULL
  COLUMN max_lon_deg double precision NOT NULL
  COLUMN max_lat_deg double precision NOT NULL
  COLUMN area_m2 double precision NOT NULL
  COLUMN vertex_count integer NOT NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN updated_at timestamp with time zone NOT NULL DEFAULT now()
TABLE images
  COLUMN sha256 text NOT NULL
  COLUMN content_type text NOT NULL
  COLUMN size_bytes integer NOT NULL
  COLUMN data bytea NOT NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
TABLE link_leases
  COLUMN drone_id bigint NOT NULL
  COLUMN instance_id text NOT NULL
  COLUMN expires_at timestamp with time zone NOT NULL
  COLUMN acquired_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN advertise_url text NULL
TABLE mission_runs
  COLUMN id bigint NOT NULL
  COLUMN mission_id bigint NOT NULL
  COLUMN drone_id bigint NULL
  COLUMN schedule_id bigint NULL
  COLUMN occurrence_at timestamp with time zone NULL
  COLUMN state text NOT NULL
  COLUMN sortie integer NOT NULL DEFAULT 0
  COLUMN sortie_count integer NOT NULL
  COLUMN upload_id bigint NULL
  COLUMN current_seq integer NULL
  COLUMN item_count integer NULL
  COLUMN progress_pct double precision NULL
  COLUMN eta_s double precision NULL
  COLUMN alt_offset_m double precision NOT NULL DEFAULT 0
  COLUMN sim_only boolean NOT NULL DEFAULT false
  COLUMN not_before timestamp with time zone NULL
  COLUMN reason text NULL
  COLUMN created_by bigint NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN updated_at timestamp with time zone NOT NULL DEFAULT now()
TABLE missions
  COLUMN id bigint NOT NULL
  COLUMN name text NOT NULL
  COLUMN kind text NOT NULL
  COLUMN grid_codes _text NOT NULL
  COLUMN communities _text NOT NULL
  COLUMN request jsonb NOT NULL
  COLUMN plan jsonb NOT NULL
  COLUMN sortie_count integer NOT NULL
  COLUMN created_by bigint NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
TABLE outbox_events
  COLUMN id bigint NOT NULL
  COLUMN event_id uuid NOT NULL DEFAULT gen_random_uuid()
  COLUMN event_type text NOT NULL
  COLUMN aggregate text NOT NULL
  COLUMN community_code text NULL
  COLUMN payload jsonb NOT NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
TABLE run_transitions
  COLUMN id bigint NOT NULL
  COLUMN run_id bigint NOT NULL
  COLUMN at timestamp with time zone NOT NULL
  COLUMN from_state text NULL
  COLUMN to_state text NOT NULL
  COLUMN sortie integer NOT NULL
  COLUMN actor text NOT NULL
  COLUMN reason text NULL
TABLE schedule_occurrences
  COLUMN id bigint NOT NULL
  COLUMN schedule_id bigint NOT NULL
  COLUMN due_at timestamp with time zone NOT NULL
  COLUMN state text NOT NULL DEFAULT 'pending'::text
  COLUMN run_id bigint NULL
  COLUMN reason text NULL
  COLUMN handled_at timestamp with time zone NULL
  COLUMN handled_by text NULL
TABLE schedules
  COLUMN id bigint NOT NULL
  COLUMN name text NOT NULL
  COLUMN mission_id bigint NOT NULL
  COLUMN drone_id bigint NULL
  COLUMN start_at timestamp with time zone NOT NULL
  COLUMN rrule text NULL
  COLUMN tz text NOT NULL
  COLUMN window_start time without time zone NULL
  COLUMN window_end time without time zone NULL
  COLUMN blackout_dates _date NOT NULL DEFAULT '{}'::date[]
  COLUMN quiet_start time without time zone NULL
  COLUMN quiet_end time without time zone NULL
  COLUMN enabled boolean NOT NULL DEFAULT true
  COLUMN sim_only boolean NOT NULL DEFAULT false
  COLUMN created_by bigint NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
TABLE schema_migrations
  COLUMN version integer NOT NULL
  COLUMN name text NOT NULL
  COLUMN applied_at timestamp with time zone NOT NULL DEFAULT now()
TABLE streets
  COLUMN code text NOT NULL
  COLUMN name text NOT NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN updated_at timestamp with time zone NOT NULL DEFAULT now()
TABLE telemetry_events
  COLUMN time timestamp with time zone NOT NULL
  COLUMN drone_id bigint NOT NULL
  COLUMN boot_id bigint NOT NULL
  COLUMN seq bigint NOT NULL
  COLUMN kind text NOT NULL
  COLUMN text text NOT NULL
  COLUMN severity smallint NULL
  COLUMN value bigint NULL
  COLUMN lat_deg double precision NULL
  COLUMN lon_deg double precision NULL
TABLE telemetry_samples
  COLUMN time timestamp with time zone NOT NULL
  COLUMN drone_id bigint NOT NULL
  COLUMN boot_id bigint NOT NULL
  COLUMN time_boot_ms bigint NOT NULL
  COLUMN grid_code text NULL
  COLUMN upload_id bigint NULL
  COLUMN mission_id bigint NULL
  COLUMN sortie integer NULL
  COLUMN lat_deg double precision NOT NULL
  COLUMN lon_deg double precision NOT NULL
  COLUMN alt_amsl_m double precision NOT NULL
  COLUMN alt_rel_m double precision NOT NULL
  COLUMN groundspeed_mps double precision NULL
  COLUMN climb_mps double precision NULL
  COLUMN heading_deg double precision NULL
  COLUMN battery_pct smallint NULL
  COLUMN voltage_v double precision NULL
  COLUMN current_a double precision NULL
  COLUMN mode text NULL
  COLUMN armed boolean NOT NULL
  COLUMN gps_fix_type smallint NULL
  COLUMN satellites smallint NULL
  COLUMN hdop double precision NULL
  COLUMN mission_seq integer NULL
  COLUMN received_at timestamp with time zone NOT NULL
TABLE webhook_deliveries
  COLUMN id bigint NOT NULL
  COLUMN subscription_id bigint NOT NULL
  COLUMN event_row bigint NOT NULL
  COLUMN aggregate text NOT NULL
  COLUMN state text NOT NULL DEFAULT 'pending'::text
  COLUMN attempts integer NOT NULL DEFAULT 0
  COLUMN next_attempt_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN last_error text NULL
  COLUMN delivered_at timestamp with time zone NULL
TABLE webhook_subscriptions
  COLUMN id bigint NOT NULL
  COLUMN url text NOT NULL
  COLUMN event_types _text NOT NULL
  COLUMN secret text NOT NULL
  COLUMN created_by text NOT NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
TABLE work_order_history
  COLUMN id bigint NOT NULL
  COLUMN work_order_id bigint NOT NULL
  COLUMN action text NOT NULL
  COLUMN from_state text NULL
  COLUMN to_state text NOT NULL
  COLUMN actor text NOT NULL
  COLUMN reason text NULL
  COLUMN details jsonb NOT NULL DEFAULT '{}'::jsonb
  COLUMN at timestamp with time zone NOT NULL
TABLE work_order_sla
  COLUMN type text NOT NULL
  COLUMN severity text NOT NULL
  COLUMN due_s integer NOT NULL
TABLE work_orders
  COLUMN id bigint NOT NULL
  COLUMN channel text NOT NULL
  COLUMN external_ref text NULL
  COLUMN type text NOT NULL
  COLUMN severity text NOT NULL
  COLUMN title text NOT NULL
  COLUMN description text NOT NULL DEFAULT ''::text
  COLUMN state text NOT NULL
  COLUMN grid_code text NULL
  COLUMN community_code text NULL
  COLUMN street_code text NULL
  COLUMN lat_deg double precision NULL
  COLUMN lon_deg double precision NULL
  COLUMN assignee_kind text NULL
  COLUMN assignee_name text NULL
  COLUMN assignee_phone text NULL
  COLUMN detection_alert_id bigint NULL
  COLUMN alert_id bigint NULL
  COLUMN drone_id bigint NULL
  COLUMN feedback text NULL
  COLUMN feedback_photos jsonb NOT NULL DEFAULT '[]'::jsonb
  COLUMN cancel_reason text NULL
  COLUMN opened_at timestamp with time zone NOT NULL
  COLUMN due_at timestamp with time zone NOT NULL
  COLUMN warned_at timestamp with time zone NULL
  COLUMN overdue_at timestamp with time zone NULL
  COLUMN escalated_at timestamp with time zone NULL
  COLUMN resolved_at timestamp with time zone NULL
  COLUMN closed_at timestamp with time zone NULL
  COLUMN cancelled_at timestamp with time zone NULL
  COLUMN updated_at timestamp with time zone NOT NULL
  COLUMN created_by text NOT NULL
TABLE zones
  COLUMN code text NOT NULL
  COLUMN name text NOT NULL
  COLUMN kind text NOT NULL
  COLUMN polygon jsonb NULL
  COLUMN center_lon_deg double precision NULL
  COLUMN center_lat_deg double precision NULL
  COLUMN radius_m double precision NULL
  COLUMN min_alt_m double precision NULL
  COLUMN max_alt_m double precision NULL
  COLUMN created_at timestamp with time zone NOT NULL DEFAULT now()
  COLUMN updated_at timestamp with time zone NOT NULL DEFAULT now()
CONSTRAINT alerts.alerts_acked_by_fkey FOREIGN KEY (acked_by) REFERENCES api_tokens(id) ON DELETE SET NULL
CONSTRAINT alerts.alerts_check CHECK ((state = 'cleared'::text) = (cleared_at IS NOT NULL))
CONSTRAINT alerts.alerts_check1 CHECK (cleared_at IS NULL OR cleared_at >= opened_at)
CONSTRAINT alerts.alerts_check2 CHECK ((acked_at IS NULL) = (acked_by_name IS NULL))
CONSTRAINT alerts.alerts_condition_key_check CHECK (length(condition_key) <= 200)
CONSTRAINT alerts.alerts_drone_id_fkey FOREIGN KEY (drone_id) REFERENCES drones(id) ON DELETE CASCADE
CONSTRAINT alerts.alerts_lat_deg_check CHECK (lat_deg >= '-90'::integer::double precision AND lat_deg <= 90::double precision)
CONSTRAINT alerts.alerts_lon_deg_check CHECK (lon_deg >= '-180'::integer::double precision AND lon_deg <= 180::double precision)
CONSTRAINT alerts.alerts_message_check CHECK (length(message) >= 1 AND length(message) <= 500)
CONSTRAINT alerts.alerts_pkey PRIMARY KEY (id)
CONSTRAINT alerts.alerts_severity_check CHECK (severity = ANY (ARRAY['info'::text, 'warning'::text, 'critical'::text]))
CONSTRAINT alerts.alerts_state_check CHECK (state = ANY (ARRAY['open'::text, 'cleared'::text]))
CONSTRAINT alerts.alerts_type_check CHECK (type = ANY (ARRAY['geofence_breach'::text, 'battery_low'::text, 'battery_return_home'::text, 'link_lost'::text, 'gps_degraded'::text, 'ekf_unhealthy'::text, 'route_deviation'::text, 'unexpected_mode'::text, 'autopilot_message'::text, 'mission_stalled'::text, 'quiet_zone_broadcast'::text, 'no_photo_zone_photo'::text, 'run_skipped'::text, 'run_failed'::text, 'telemetry_dropped'::text]))
CONSTRAINT alerts.alerts_update_count_check CHECK (update_count >= 0)
CONSTRAINT api_tokens.api_tokens_created_by_fkey FOREIGN KEY (created_by) REFERENCES api_tokens(id)
CONSTRAINT api_tokens.api_tokens_name_check CHECK (length(name) >= 1 AND length(name) <= 100)
CONSTRAINT api_tokens.api_tokens_pkey PRIMARY KEY (id)
CONSTRAINT api_tokens.api_tokens_role_check CHECK (role = ANY (ARRAY['viewer'::text, 'operator'::text, 'tester'::text, 'admin'::text]))
CONSTRAINT api_tokens.api_tokens_token_hash_key UNIQUE (token_hash)
CONSTRAINT communities.communities_code_check CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'::text)
CONSTRAINT communities.communities_name_check CHECK (length(name) >= 1 AND length(name) <= 200)
CONSTRAINT communities.communities_pkey PRIMARY KEY (code)
CONSTRAINT communities.communities_street_code_fkey FOREIGN KEY (street_code) REFERENCES streets(code) ON UPDATE CASCADE
CONSTRAINT detection_alerts.detection_alerts_check CHECK (last_seen_at >= first_seen_at)
CONSTRAINT detection_alerts.detection_alerts_detection_count_check CHECK (detection_count >= 1)
CONSTRAINT detection_alerts.detection_alerts_lat_deg_check CHECK (lat_deg >= '-90'::integer::double precision AND lat_deg <= 90::double precision)
CONSTRAINT detection_alerts.detection_alerts_lon_deg_check CHECK (lon_deg >= '-180'::integer::double precision AND lon_deg <= 180::double precision)
CONSTRAINT detection_alerts.detection_alerts_pkey PRIMARY KEY (id)
CONSTRAINT detection_alerts.detection_alerts_severity_check CHECK (severity = ANY (ARRAY['info'::text, 'warning'::text, 'critical'::text]))
CONSTRAINT detection_alerts.detection_alerts_state_check CHECK (state = ANY (ARRAY['open'::text, 'closed'::text]))
CONSTRAINT detection_alerts.detection_alerts_type_check CHECK (type ~ '^[a-z0-9_]{1,64}$'::text)
CONSTRAINT detections.detections_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES detection_alerts(id) ON DELETE CASCADE
CONSTRAINT detections.detections_confidence_check CHECK (confidence >= 0::double precision AND confidence <= 1::double precision)
CONSTRAINT detections.detections_drone_id_fkey FOREIGN KEY (drone_id) REFERENCES drones(id) ON DELETE SET NULL
CONSTRAINT detections.detections_idempotency_key_check CHECK (length(idempotency_key) >= 1 AND length(idempotency_key) <= 200)
CONSTRAINT detections.detections_idempotency_key_key UNIQUE (idempotency_key)
CONSTRAINT detections.detections_image_file_check CHECK (image_file ~ '^[0-9a-f]{64}\.(jpg|png)$'::text)
CONSTRAINT detections.detections_image_sha256_fkey FOREIGN KEY (image_sha256) REFERENCES images(sha256)
CONSTRAINT detections.detections_image_type_check CHECK (image_type = ANY (ARRAY['image/jpeg'::text, 'image/png'::text]))
CONSTRAINT detections.detections_image_type_present_check CHECK ((image_file IS NULL AND image_sha256 IS NULL) = (image_type IS NULL))
CONSTRAINT detections.detections_image_url_check CHECK (length(image_url) <= 2000)
CONSTRAINT detections.detections_lat_deg_check CHECK (lat_deg >= '-90'::integer::double precision AND lat_deg <= 90::double precision)
CONSTRAINT detections.detections_lon_deg_check CHECK (lon_deg >= '-180'::integer::double precision AND lon_deg <= 180::double precision)
CONSTRAINT detections.detections_note_check CHECK (length(note) <= 2000)
CONSTRAINT detections.detections_one_image_check CHECK (num_nonnulls(image_url, image_file, image_sha256) <= 1)
CONSTRAINT detections.detections_pkey PRIMARY KEY (id)
CONSTRAINT detections.detections_source_check CHECK (source = ANY (ARRAY['onboard_ai'::text, 'ground_ai'::text, 'person'::text]))
CONSTRAINT detections.detections_type_check CHECK (type ~ '^[a-z0-9_]{1,64}$'::text)
CONSTRAINT district_settings.district_settings_ceiling_m_check CHECK (ceiling_m > 0::double precision AND ceiling_m <= 1000::double precision)
CONSTRAINT district_settings.district_settings_pkey PRIMARY KEY (singleton)
CONSTRAINT district_settings.district_settings_singleton_check CHECK (singleton)
CONSTRAINT drone_uploads.drone_uploads_created_by_fkey FOREIGN KEY (created_by) REFERENCES api_tokens(id)
CONSTRAINT drone_uploads.drone_uploads_drone_id_fkey FOREIGN KEY (drone_id) REFERENCES drones(id) ON DELETE CASCADE
CONSTRAINT drone_uploads.drone_uploads_item_count_check CHECK (item_count >= 0)
CONSTRAINT drone_uploads.drone_uploads_mission_id_fkey FOREIGN KEY (mission_id) REFERENCES missions(id) ON DELETE SET NULL
CONSTRAINT drone_uploads.drone_uploads_pkey PRIMARY KEY (id)
CONSTRAINT drone_uploads.drone_uploads_sortie_check CHECK (sortie >= 0)
CONSTRAINT drone_uploads.drone_uploads_status_check CHECK (status = ANY (ARRAY['uploading'::text, 'verified'::text, 'failed'::text]))
CONSTRAINT drone_uploads.drone_uploads_verified_by_check CHECK (verified_by = ANY (ARRAY['ack'::text, 'download'::text]))
CONSTRAINT drones.drones_community_code_fkey FOREIGN KEY (community_code) REFERENCES communities(code) ON UPDATE CASCADE
CONSTRAINT drones.drones_home_lat_deg_check CHECK (home_lat_deg >= '-90'::integer::double precision AND home_lat_deg <= 90::double precision)
CONSTRAINT drones.drones_home_lon_deg_check CHECK (home_lon_deg >= '-180'::integer::double precision AND home_lon_deg <= 180::double precision)
CONSTRAINT drones.drones_kind_check CHECK (kind = ANY (ARRAY['real'::text, 'sitl'::text, 'sim'::text]))
CONSTRAINT drones.drones_name_check CHECK (length(name) >= 1 AND length(name) <= 100)
CONSTRAINT drones.drones_name_key UNIQUE (name)
CONSTRAINT drones.drones_pkey PRIMARY KEY (id)
CONSTRAINT drones.drones_signing_key_check CHECK (signing_key IS NULL OR length(signing_key) = 32)
CONSTRAINT drones.drones_sysid_check CHECK (sysid >= 1 AND sysid <= 255)
CONSTRAINT grid_patrols.grid_patrols_alt_band_m_check CHECK (alt_band_m > 0::double precision)
CONSTRAINT grid_patrols.grid_patrols_camera_samples_check CHECK (camera_samples >= 0)
CONSTRAINT grid_patrols.grid_patrols_check CHECK (ended_at >= started_at)
CONSTRAINT grid_patrols.grid_patrols_grid_code_fkey FOREIGN KEY (grid_code) REFERENCES grids(code) ON DELETE CASCADE
CONSTRAINT grid_patrols.grid_patrols_grid_code_upload_id_key UNIQUE (grid_code, upload_id)
CONSTRAINT grid_patrols.grid_patrols_grid_m2_check CHECK (grid_m2 > 0::double precision)
CONSTRAINT grid_patrols.grid_patrols_pkey PRIMARY KEY (id)
CONSTRAINT grid_patrols.grid_patrols_samples_check CHECK (samples >= 0)
CONSTRAINT grid_patrols.grid_patrols_seen_m2_check CHECK (seen_m2 >= 0::double precision)
CONSTRAINT grid_patrols.grid_patrols_seen_share_check CHECK (seen_share >= 0::double precision AND seen_share <= 1::double precision)
CONSTRAINT grid_patrols.grid_patrols_sortie_check CHECK (sortie >= 0)
CONSTRAINT grid_patrols.grid_patrols_upload_id_fkey FOREIGN KEY (upload_id) REFERENCES drone_uploads(id) ON DELETE CASCADE
CONSTRAINT grids.grids_area_m2_check CHECK (area_m2 > 0::double precision)
CONSTRAINT grids.grids_check CHECK (min_lon_deg <= max_lon_deg AND min_lat_deg <= max_lat_deg)
CONSTRAINT grids.grids_code_check CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'::text)
CONSTRAINT grids.grids_community_code_fkey FOREIGN KEY (community_code) REFERENCES communities(code) ON UPDATE CASCADE
CONSTRAINT grids.grids_name_check CHECK (length(name) >= 1 AND length(name) <= 200)
CONSTRAINT grids.grids_pkey PRIMARY KEY (code)
CONSTRAINT grids.grids_vertex_count_check CHECK (vertex_count >= 4)
CONSTRAINT images.images_check CHECK (octet_length(data) = size_bytes)
CONSTRAINT images.images_check1 CHECK (sha256 = encode(sha256(data), 'hex'::text))
CONSTRAINT images.images_content_type_check CHECK (content_type = ANY (ARRAY['image/jpeg'::text, 'image/png'::text]))
CONSTRAINT images.images_pkey PRIMARY KEY (sha256)
CONSTRAINT images.images_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$'::text)
CONSTRAINT images.images_size_bytes_check CHECK (size_bytes >= 1 AND size_bytes <= 50000000)
CONSTRAINT link_leases.link_leases_advertise_url_check CHECK (advertise_url IS NULL OR length(advertise_url) >= 1 AND length(advertise_url) <= 2000)
CONSTRAINT link_leases.link_leases_drone_id_fkey FOREIGN KEY (drone_id) REFERENCES drones(id) ON DELETE CASCADE
CONSTRAINT link_leases.link_leases_instance_id_check CHECK (length(instance_id) >= 1 AND length(instance_id) <= 200)
CONSTRAINT link_leases.link_leases_pkey PRIMARY KEY (drone_id)
CONSTRAINT mission_runs.mission_runs_check CHECK (sortie < sortie_count)
CONSTRAINT mission_runs.mission_runs_created_by_fkey FOREIGN KEY (created_by) REFERENCES api_tokens(id) ON DELETE SET NULL
CONSTRAINT mission_runs.mission_runs_current_seq_check CHECK (current_seq >= 0)
CONSTRAINT mission_runs.mission_runs_drone_id_fkey FOREIGN KEY (drone_id) REFERENCES drones(id) ON DELETE SET NULL
CONSTRAINT mission_runs.mission_runs_eta_s_check CHECK (eta_s >= 0::double precision)
CONSTRAINT mission_runs.mission_runs_item_count_check CHECK (item_count >= 0)
CONSTRAINT mission_runs.mission_runs_mission_id_fkey FOREIGN KEY (mission_id) REFERENCES missions(id) ON DELETE CASCADE
CONSTRAINT mission_runs.mission_runs_pkey PRIMARY KEY (id)
CONSTRAINT mission_runs.mission_runs_progress_pct_check CHECK (progress_pct >= 0::double precision AND progress_pct <= 100::double precision)
CONSTRAINT mission_runs.mission_runs_reason_check CHECK (length(reason) <= 1000)
CONSTRAINT mission_runs.mission_runs_schedule_fkey FOREIGN KEY (schedule_id) REFERENCES schedules(id) ON DELETE SET NULL
CONSTRAINT mission_runs.mission_runs_sortie_check CHECK (sortie >= 0)
CONSTRAINT mission_runs.mission_runs_sortie_count_check CHECK (sortie_count >= 1)
CONSTRAINT mission_runs.mission_runs_state_check CHECK (state = ANY (ARRAY['planned'::text, 'scheduled'::text, 'dispatching'::text, 'uploading'::text, 'ready'::text, 'running'::text, 'paused'::text, 'returning'::text, 'landed'::text, 'waiting'::text, 'completed'::text, 'aborted'::text, 'failed'::text, 'skipped'::text]))
CONSTRAINT mission_runs.mission_runs_upload_id_fkey FOREIGN KEY (upload_id) REFERENCES drone_uploads(id) ON DELETE SET NULL
CONSTRAINT missions.missions_created_by_fkey FOREIGN KEY (created_by) REFERENCES api_tokens(id)
CONSTRAINT missions.missions_grid_codes_check CHECK (cardinality(grid_codes) >= 1)
CONSTRAINT missions.missions_kind_check CHECK (kind = ANY (ARRAY['coverage'::text, 'perimeter'::text, 'broadcast'::text, 'spray'::text, 'inspect'::text, 'checkpoint'::text]))
CONSTRAINT missions.missions_name_check CHECK (length(name) >= 1 AND length(name) <= 200)
CONSTRAINT missions.missions_pkey PRIMARY KEY (id)
CONSTRAINT missions.missions_sortie_count_check CHECK (sortie_count >= 1)
CONSTRAINT outbox_events.outbox_events_event_id_key UNIQUE (event_id)
CONSTRAINT outbox_events.outbox_events_pkey PRIMARY KEY (id)
CONSTRAINT run_transitions.run_transitions_actor_check CHECK (length(actor) >= 1 AND length(actor) <= 200)
CONSTRAINT run_transitions.run_transitions_pkey PRIMARY KEY (id)
CONSTRAINT run_transitions.run_transitions_reason_check CHECK (length(reason) <= 1000)
CONSTRAINT run_transitions.run_transitions_run_id_fkey FOREIGN KEY (run_id) REFERENCES mission_runs(id) ON DELETE CASCADE
CONSTRAINT schedule_occurrences.schedule_occurrences_pkey PRIMARY KEY (id)
CONSTRAINT schedule_occurrences.schedule_occurrences_reason_check CHECK (length(reason) <= 1000)
CONSTRAINT schedule_occurrences.schedule_occurrences_run_id_fkey FOREIGN KEY (run_id) REFERENCES mission_runs(id) ON DELETE SET NULL
CONSTRAINT schedule_occurrences.schedule_occurrences_schedule_id_due_at_key UNIQUE (schedule_id, due_at)
CONSTRAINT schedule_occurrences.schedule_occurrences_schedule_id_fkey FOREIGN KEY (schedule_id) REFERENCES schedules(id) ON DELETE CASCADE
CONSTRAINT schedule_occurrences.schedule_occurrences_state_check CHECK (state = ANY (ARRAY['pending'::text, 'fired'::text, 'skipped'::text]))
CONSTRAINT schedules.schedules_check CHECK ((window_start IS NULL) = (window_end IS NULL) AND window_end > window_start)
CONSTRAINT schedules.schedules_check1 CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
CONSTRAINT schedules.schedules_created_by_fkey FOREIGN KEY (created_by) REFERENCES api_tokens(id) ON DELETE SET NULL
CONSTRAINT schedules.schedules_drone_id_fkey FOREIGN KEY (drone_id) REFERENCES drones(id) ON DELETE SET NULL
CONSTRAINT schedules.schedules_mission_id_fkey FOREIGN KEY (mission_id) REFERENCES missions(id) ON DELETE CASCADE
CONSTRAINT schedules.schedules_name_check CHECK (length(name) >= 1 AND length(name) <= 200)
CONSTRAINT schedules.schedules_pkey PRIMARY KEY (id)
CONSTRAINT schedules.schedules_rrule_check CHECK (length(rrule) <= 1000)
CONSTRAINT schema_migrations.schema_migrations_pkey PRIMARY KEY (version)
CONSTRAINT streets.streets_code_check CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'::text)
CONSTRAINT streets.streets_name_check CHECK (length(name) >= 1 AND length(name) <= 200)
CONSTRAINT streets.streets_pkey PRIMARY KEY (code)
CONSTRAINT telemetry_events.telemetry_events_kind_check CHECK (kind = ANY (ARRAY['mode'::text, 'armed'::text, 'statustext'::text, 'mission_current'::text, 'mission_reached'::text, 'home'::text, 'failsafe'::text]))
CONSTRAINT telemetry_events.telemetry_events_pkey PRIMARY KEY (drone_id, boot_id, seq)
CONSTRAINT telemetry_samples.telemetry_samples_drone_id_boot_id_time_boot_ms_time_key UNIQUE (drone_id, boot_id, time_boot_ms, "time")
CONSTRAINT telemetry_samples.telemetry_samples_lat_deg_check CHECK (lat_deg >= '-90'::integer::double precision AND lat_deg <= 90::double precision)
CONSTRAINT telemetry_samples.telemetry_samples_lon_deg_check CHECK (lon_deg >= '-180'::integer::double precision AND lon_deg <= 180::double precision)
CONSTRAINT telemetry_samples.telemetry_samples_time_boot_ms_check CHECK (time_boot_ms >= 0)
CONSTRAINT webhook_deliveries.webhook_deliveries_attempts_check CHECK (attempts >= 0)
CONSTRAINT webhook_deliveries.webhook_deliveries_event_row_fkey FOREIGN KEY (event_row) REFERENCES outbox_events(id) ON DELETE CASCADE
CONSTRAINT webhook_deliveries.webhook_deliveries_pkey PRIMARY KEY (id)
CONSTRAINT webhook_deliveries.webhook_deliveries_state_check CHECK (state = ANY (ARRAY['pending'::text, 'delivered'::text, 'dead'::text]))
CONSTRAINT webhook_deliveries.webhook_deliveries_subscription_id_event_row_key UNIQUE (subscription_id, event_row)
CONSTRAINT webhook_deliveries.webhook_deliveries_subscription_id_fkey FOREIGN KEY (subscription_id) REFERENCES webhook_subscriptions(id) ON DELETE CASCADE
CONSTRAINT webhook_subscriptions.webhook_subscriptions_event_types_check CHECK (cardinality(event_types) >= 1)
CONSTRAINT webhook_subscriptions.webhook_subscriptions_pkey PRIMARY KEY (id)
CONSTRAINT webhook_subscriptions.webhook_subscriptions_secret_check CHECK (length(secret) >= 16 AND length(secret) <= 200)
CONSTRAINT webhook_subscriptions.webhook_subscriptions_url_check CHECK (url ~ '^https?://'::text AND length(url) <= 2000)
CONSTRAINT work_order_history.work_order_history_pkey PRIMARY KEY (id)
CONSTRAINT work_order_history.work_order_history_reason_check CHECK (length(reason) <= 2000)
CONSTRAINT work_order_history.work_order_history_work_order_id_fkey FOREIGN KEY (work_order_id) REFERENCES work_orders(id) ON DELETE CASCADE
CONSTRAINT work_order_sla.work_order_sla_due_s_check CHECK (due_s >= 60 AND due_s <= 31536000)
CONSTRAINT work_order_sla.work_order_sla_pkey PRIMARY KEY (type, severity)
CONSTRAINT work_order_sla.work_order_sla_severity_check CHECK (severity = ANY (ARRAY['info'::text, 'warning'::text, 'critical'::text]))
CONSTRAINT work_order_sla.work_order_sla_type_check CHECK (type = '*'::text OR type ~ '^[a-z0-9_]{1,64}$'::text)
CONSTRAINT work_orders.work_orders_alert_id_fkey FOREIGN KEY (alert_id) REFERENCES alerts(id) ON DELETE SET NULL
CONSTRAINT work_orders.work_orders_assignee_kind_check CHECK (assignee_kind = ANY (ARRAY['worker'::text, 'department'::text]))
CONSTRAINT work_orders.work_orders_assignee_name_check CHECK (length(assignee_name) >= 1 AND length(assignee_name) <= 200)
CONSTRAINT work_orders.work_orders_assignee_phone_check CHECK (length(assignee_phone) <= 50)
CONSTRAINT work_orders.work_orders_cancel_reason_check CHECK (length(cancel_reason) <= 2000)
CONSTRAINT work_orders.work_orders_channel_check CHECK (channel ~ '^[a-z0-9_]{1,64}$'::text)
CONSTRAINT work_orders.work_orders_check CHECK (due_at > opened_at)
CONSTRAINT work_orders.work_orders_check1 CHECK ((assignee_kind IS NULL) = (assignee_name IS NULL))
CONSTRAINT work_orders.work_orders_description_check CHECK (length(description) <= 5000)
CONSTRAINT work_orders.work_orders_detection_alert_id_fkey FOREIGN KEY (detection_alert_id) REFERENCES detection_alerts(id) ON DELETE SET NULL
CONSTRAINT work_orders.work_orders_drone_id_fkey FOREIGN KEY (drone_id) REFERENCES drones(id) ON DELETE SET NULL
CONSTRAINT work_orders.work_orders_external_ref_check CHECK (length(external_ref) >= 1 AND length(external_ref) <= 200)
CONSTRAINT work_orders.work_orders_feedback_check CHECK (length(feedback) <= 5000)
CONSTRAINT work_orders.work_orders_lat_deg_check CHECK (lat_deg >= '-90'::integer::double precision AND lat_deg <= 90::double precision)
CONSTRAINT work_orders.work_orders_lon_deg_check CHECK (lon_deg >= '-180'::integer::double precision AND lon_deg <= 180::double precision)
CONSTRAINT work_orders.work_orders_pkey PRIMARY KEY (id)
CONSTRAINT work_orders.work_orders_severity_check CHECK (severity = ANY (ARRAY['info'::text, 'warning'::text, 'critical'::text]))
CONSTRAINT work_orders.work_orders_state_check CHECK (state = ANY (ARRAY['open'::text, 'assigned'::text, 'in_progress'::text, 'resolved'::text, 'closed'::text, 'reopened'::text, 'cancelled'::text]))
CONSTRAINT work_orders.work_orders_title_check CHECK (length(title) >= 1 AND length(title) <= 200)
CONSTRAINT work_orders.work_orders_type_check CHECK (type ~ '^[a-z0-9_]{1,64}$'::text)
CONSTRAINT zones.zones_center_lat_deg_check CHECK (center_lat_deg >= '-90'::integer::double precision AND center_lat_deg <= 90::double precision)
CONSTRAINT zones.zones_center_lon_deg_check CHECK (center_lon_deg >= '-180'::integer::double precision AND center_lon_deg <= 180::double precision)
CONSTRAINT zones.zones_check CHECK ((polygon IS NULL) = (radius_m IS NOT NULL))
CONSTRAINT zones.zones_check1 CHECK ((radius_m IS NULL) = (center_lon_deg IS NULL) AND (radius_m IS NULL) = (center_lat_deg IS NULL))
CONSTRAINT zones.zones_check2 CHECK (min_alt_m IS NULL OR max_alt_m IS NULL OR min_alt_m < max_alt_m)
CONSTRAINT zones.zones_code_check CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'::text)
CONSTRAINT zones.zones_kind_check CHECK (kind = ANY (ARRAY['inclusion'::text, 'exclusion'::text, 'quiet'::text, 'no_photo'::text, 'no_spray'::text]))
CONSTRAINT zones.zones_name_check CHECK (length(name) >= 1 AND length(name) <= 200)
CONSTRAINT zones.zones_pkey PRIMARY KEY (code)
CONSTRAINT zones.zones_radius_m_check CHECK (radius_m > 0::double precision)
INDEX alerts.alerts_community_idx CREATE INDEX alerts_community_idx ON alerts USING btree (community_code, opened_at DESC)
INDEX alerts.alerts_drone_idx CREATE INDEX alerts_drone_idx ON alerts USING btree (drone_id, opened_at DESC)
INDEX alerts.alerts_grid_idx CREATE INDEX alerts_grid_idx ON alerts USING btree (grid_code, opened_at DESC)
INDEX alerts.alerts_one_open_per_condition CREATE UNIQUE INDEX alerts_one_open_per_condition ON alerts USING btree (drone_id, type, condition_key) WHERE (state = 'open'::text)
INDEX alerts.alerts_opened_idx CREATE INDEX alerts_opened_idx ON alerts USING btree (opened_at DESC)
INDEX alerts.alerts_pkey CREATE UNIQUE INDEX alerts_pkey ON alerts USING btree (id)
INDEX api_tokens.api_tokens_pkey CREATE UNIQUE INDEX api_tokens_pkey ON api_tokens USING btree (id)
INDEX api_tokens.api_tokens_token_hash_key CREATE UNIQUE INDEX api_tokens_token_hash_key ON api_tokens USING btree (token_hash)
INDEX communities.communities_pkey CREATE UNIQUE INDEX communities_pkey ON communities USING btree (code)
INDEX communities.communities_street_idx CREATE INDEX communities_street_idx ON communities USING btree (street_code)
INDEX detection_alerts.detection_alerts_open_idx CREATE INDEX detection_alerts_open_idx ON detection_alerts USING btree (type, last_seen_at DESC) WHERE (state = 'open'::text)
INDEX detection_alerts.detection_alerts_pkey CREATE UNIQUE INDEX detection_alerts_pkey ON detection_alerts USING btree (id)
INDEX detections.detections_alert_idx CREATE INDEX detections_alert_idx ON detections USING btree (alert_id)
INDEX detections.detections_community_idx CREATE INDEX detections_community_idx ON detections USING btree (community_code, detected_at DESC)
INDEX detections.detections_idempotency_key_key CREATE UNIQUE INDEX detections_idempotency_key_key ON detections USING btree (idempotency_key)
INDEX detections.detections_image_file_idx CREATE INDEX detections_image_file_idx ON detections USING btree (image_file) WHERE (image_file IS NOT NULL)
INDEX detections.detections_pkey CREATE UNIQUE INDEX detections_pkey ON detections USING btree (id)
INDEX district_settings.district_settings_pkey CREATE UNIQUE INDEX district_settings_pkey ON district_settings USING btree (singleton)
INDEX drone_uploads.drone_uploads_drone_idx CREATE INDEX drone_uploads_drone_idx ON drone_uploads USING btree (drone_id, started_at DESC)
INDEX drone_uploads.drone_uploads_pkey CREATE UNIQUE INDEX drone_uploads_pkey ON drone_uploads USING btree (id)
INDEX drones.drones_community_idx CREATE INDEX drones_community_idx ON drones USING btree (community_code)
INDEX drones.drones_link_sysid_key CREATE UNIQUE INDEX drones_link_sysid_key ON drones USING btree (drone_link_key(endpoint), sysid) WHERE (NOT link_blocked)
INDEX drones.drones_name_key CREATE UNIQUE INDEX drones_name_key ON drones USING btree (name)
INDEX drones.drones_pkey CREATE UNIQUE INDEX drones_pkey ON drones USING btree (id)
INDEX grid_patrols.grid_patrols_grid_code_upload_id_key CREATE UNIQUE INDEX grid_patrols_grid_code_upload_id_key ON grid_patrols USING btree (grid_code, upload_id)
INDEX grid_patrols.grid_patrols_grid_idx CREATE INDEX grid_patrols_grid_idx ON grid_patrols USING btree (grid_code, ended_at DESC)
INDEX grid_patrols.grid_patrols_pkey CREATE UNIQUE INDEX grid_patrols_pkey ON grid_patrols USING btree (id)
INDEX grids.grids_community_idx CREATE INDEX grids_community_idx ON grids USING btree (community_code)
INDEX grids.grids_pkey CREATE UNIQUE INDEX grids_pkey ON grids USING btree (code)
INDEX images.images_pkey CREATE UNIQUE INDEX images_pkey ON images USING btree (sha256)
INDEX link_leases.link_leases_instance_idx CREATE INDEX link_leases_instance_idx ON link_leases USING btree (instance_id)
INDEX link_leases.link_leases_pkey CREATE UNIQUE INDEX link_leases_pkey ON link_leases USING btree (drone_id)
INDEX mission_runs.mission_runs_one_active_per_drone CREATE UNIQUE INDEX mission_runs_one_active_per_drone ON mission_runs USING btree (drone_id) WHERE (state = ANY (ARRAY['dispatching'::text, 'uploading'::text, 'ready'::text, 'running'::text, 'paused'::text, 'returning'::text, 'landed'::text, 'waiting'::text]))
INDEX mission_runs.mission_runs_one_per_occurrence CREATE UNIQUE INDEX mission_runs_one_per_occurrence ON mission_runs USING btree (schedule_id, occurrence_at) WHERE (schedule_id IS NOT NULL)
INDEX mission_runs.mission_runs_pkey CREATE UNIQUE INDEX mission_runs_pkey ON mission_runs USING btree (id)
INDEX mission_runs.mission_runs_schedule_idx CREATE INDEX mission_runs_schedule_idx ON mission_runs USING btree (schedule_id, occurrence_at)
INDEX mission_runs.mission_runs_state_idx CREATE INDEX mission_runs_state_idx ON mission_runs USING btree (state)
INDEX missions.missions_created_idx CREATE INDEX missions_created_idx ON missions USING btree (created_at DESC)
INDEX missions.missions_pkey CREATE UNIQUE INDEX missions_pkey ON missions USING btree (id)
INDEX outbox_events.outbox_events_aggregate_idx CREATE INDEX outbox_events_aggregate_idx ON outbox_events USING btree (aggregate, id)
INDEX outbox_events.outbox_events_event_id_key CREATE UNIQUE INDEX outbox_events_event_id_key ON outbox_events USING btree (event_id)
INDEX outbox_events.outbox_events_pkey CREATE UNIQUE INDEX outbox_events_pkey ON outbox_events USING btree (id)
INDEX run_transitions.run_transitions_pkey CREATE UNIQUE INDEX run_transitions_pkey ON run_transitions USING btree (id)
INDEX run_transitions.run_transitions_run_idx CREATE INDEX run_transitions_run_idx ON run_transitions USING btree (run_id, id)
INDEX schedule_occurrences.schedule_occurrences_pending_idx CREATE INDEX schedule_occurrences_pending_idx ON schedule_occurrences USING btree (due_at) WHERE (state = 'pending'::text)
INDEX schedule_occurrences.schedule_occurrences_pkey CREATE UNIQUE INDEX schedule_occurrences_pkey ON schedule_occurrences USING btree (id)
INDEX schedule_occurrences.schedule_occurrences_schedule_id_due_at_key CREATE UNIQUE INDEX schedule_occurrences_schedule_id_due_at_key ON schedule_occurrences USING btree (schedule_id, due_at)
INDEX schedules.schedules_pkey CREATE UNIQUE INDEX schedules_pkey ON schedules USING btree (id)
INDEX schema_migrations.schema_migrations_pkey CREATE UNIQUE INDEX schema_migrations_pkey ON schema_migrations USING btree (version)
INDEX streets.streets_pkey CREATE UNIQUE INDEX streets_pkey ON streets USING btree (code)
INDEX telemetry_events.telemetry_events_pkey CREATE UNIQUE INDEX telemetry_events_pkey ON telemetry_events USING btree (drone_id, boot_id, seq)
INDEX telemetry_events.telemetry_events_time_idx CREATE INDEX telemetry_events_time_idx ON telemetry_events USING btree ("time")
INDEX telemetry_samples.telemetry_samples_drone_id_boot_id_time_boot_ms_time_key CREATE UNIQUE INDEX telemetry_samples_drone_id_boot_id_time_boot_ms_time_key ON ONLY public.telemetry_samples USING btree (drone_id, boot_id, time_boot_ms, "time")
INDEX telemetry_samples.telemetry_samples_drone_time_idx CREATE INDEX telemetry_samples_drone_time_idx ON ONLY public.telemetry_samples USING btree (drone_id, "time")
INDEX telemetry_samples.telemetry_samples_grid_time_idx CREATE INDEX telemetry_samples_grid_time_idx ON ONLY public.telemetry_samples USING btree (grid_code, "time")
INDEX webhook_deliveries.webhook_deliveries_order_idx CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries USING btree (subscription_id, aggregate, event_row) WHERE (state = 'pending'::text)
INDEX webhook_deliveries.webhook_deliveries_pending_idx CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries USING btree (next_attempt_at) WHERE (state = 'pending'::text)
INDEX webhook_deliveries.webhook_deliveries_pkey CREATE UNIQUE INDEX webhook_deliveries_pkey ON webhook_deliveries USING btree (id)
INDEX webhook_deliveries.webhook_deliveries_subscription_id_event_row_key CREATE UNIQUE INDEX webhook_deliveries_subscription_id_event_row_key ON webhook_deliveries USING btree (subscription_id, event_row)
INDEX webhook_subscriptions.webhook_subscriptions_pkey CREATE UNIQUE INDEX webhook_subscriptions_pkey ON webhook_subscriptions USING btree (id)
INDEX work_order_history.work_order_history_order_idx CREATE INDEX work_order_history_order_idx ON work_order_history USING btree (work_order_id, id)
INDEX work_order_history.work_order_history_pkey CREATE UNIQUE INDEX work_order_history_pkey ON work_order_history USING btree (id)
INDEX work_order_sla.work_order_sla_pkey CREATE UNIQUE INDEX work_order_sla_pkey ON work_order_sla USING btree (type, severity)
INDEX work_orders.work_orders_channel_ref CREATE UNIQUE INDEX work_orders_channel_ref ON work_orders USING btree (channel, external_ref) WHERE (external_ref IS NOT NULL)
INDEX work_orders.work_orders_community_idx CREATE INDEX work_orders_community_idx ON work_orders USING btree (community_code, opened_at DESC)
INDEX work_orders.work_orders_due_idx CREATE INDEX work_orders_due_idx ON work_orders USING btree (due_at) WHERE (state <> ALL (ARRAY['closed'::text, 'cancelled'::text]))
INDEX work_orders.work_orders_opened_idx CREATE INDEX work_orders_opened_idx ON work_orders USING btree (opened_at DESC)
INDEX work_orders.work_orders_pkey CREATE UNIQUE INDEX work_orders_pkey ON work_orders USING btree (id)
INDEX zones.zones_kind_idx CREATE INDEX zones_kind_idx ON zones USING btree (kind)
INDEX zones.zones_pkey CREATE UNIQUE INDEX zones_pkey ON zones USING btree (code)
