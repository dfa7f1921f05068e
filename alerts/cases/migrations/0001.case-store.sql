-- The case store, version 1: cases, their alerts and their timeline, projected from the topics.
-- Every row is derived from a topic record with a stable id, so replaying the topics changes nothing.

CREATE TABLE cases (
    case_id         text PRIMARY KEY,              -- hold id (H-...) or, for an alert without a hold, its alert id
    kind            text NOT NULL DEFAULT 'alert', -- hold | freeze | alert
    account_id      text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'open',  -- the hold's status, or open / dismissed / escalated
    is_open         boolean NOT NULL DEFAULT true,
    status_at       timestamptz,                   -- time of the record that set the status
    severity        text NOT NULL DEFAULT '',
    severity_rank   smallint NOT NULL DEFAULT 0,
    lead_alert_id   text,
    reason_vi       text NOT NULL DEFAULT '',
    reason_en       text NOT NULL DEFAULT '',
    rules           text[] NOT NULL DEFAULT '{}',
    channels        text[] NOT NULL DEFAULT '{}',
    amount_vnd      bigint,                        -- the lead alert's amount
    alert_count     integer NOT NULL DEFAULT 0,
    opened_at       timestamptz,
    hold            jsonb,
    hold_updated_at timestamptz,
    expires_at      timestamptz
);

CREATE TABLE case_alerts (
    alert_id      text PRIMARY KEY,
    case_id       text NOT NULL,
    rule_id       text NOT NULL,
    severity_rank smallint NOT NULL,
    detected_at   timestamptz NOT NULL,
    event_ts      timestamptz NOT NULL,
    event_id      text NOT NULL,
    alert         jsonb NOT NULL
);
CREATE INDEX case_alerts_case ON case_alerts (case_id);

CREATE TABLE case_events (
    event_key text PRIMARY KEY,   -- the source record's id: alert id, audit id, report id, hold transition
    case_id   text NOT NULL,
    at        timestamptz NOT NULL,
    kind      text NOT NULL,
    who       text NOT NULL DEFAULT '',
    role      text NOT NULL DEFAULT '',
    facts     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_case ON case_events (case_id, at);

-- Natural order of rule ids: R2 before R12, R6a before R6b.
CREATE FUNCTION txmon_rule_order(rule text) RETURNS integer LANGUAGE sql IMMUTABLE AS
$$ SELECT coalesce(substring(rule FROM '[0-9]+')::integer, 0) $$;

CREATE FUNCTION txmon_json_bigint(v jsonb) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN trunc(v::text::numeric)::bigint END $$;

-- Recompute the alert-derived columns of the given cases from their alerts.
CREATE FUNCTION txmon_refresh_cases(ids text[]) RETURNS void LANGUAGE sql AS
$$
INSERT INTO cases (case_id) SELECT DISTINCT unnest(ids) ON CONFLICT (case_id) DO NOTHING;
UPDATE cases c SET
    account_id    = lead.alert->>'account_id',
    severity      = lead.alert->>'severity',
    severity_rank = lead.severity_rank,
    lead_alert_id = lead.alert_id,
    reason_vi     = lead.alert->>'reason_vi',
    reason_en     = lead.alert->>'reason_en',
    amount_vnd    = coalesce(txmon_json_bigint(lead.alert->'evidence'->'amount_vnd'),
                             txmon_json_bigint(lead.alert->'event'->'amount')),
    rules         = agg.rules,
    channels      = agg.channels,
    alert_count   = agg.n,
    opened_at     = coalesce((c.hold->>'created_at')::timestamptz, agg.first_at)
FROM (
    SELECT DISTINCT ON (case_id) case_id, alert_id, severity_rank, alert
    FROM case_alerts WHERE case_id = ANY(ids)
    ORDER BY case_id, severity_rank DESC, detected_at DESC, alert_id
) lead
JOIN (
    SELECT a.case_id,
           (SELECT array_agg(r ORDER BY txmon_rule_order(r), r)
              FROM (SELECT DISTINCT rule_id AS r FROM case_alerts x WHERE x.case_id = a.case_id) s) AS rules,
           (SELECT array_agg(DISTINCT ch ORDER BY ch)
              FROM case_alerts x, jsonb_array_elements_text(x.alert->'channels') ch WHERE x.case_id = a.case_id) AS channels,
           count(*) AS n,
           min(a.detected_at) AS first_at
    FROM case_alerts a WHERE a.case_id = ANY(ids) GROUP BY a.case_id
) agg ON agg.case_id = lead.case_id
WHERE c.case_id = lead.case_id;
$$;
