-- depends: 0001.case-store
-- The case store, version 2: the officers' workflow (claim, assignment, resolution), the hold's
-- 4th-business-day limit, search keys, and the indexes the queue's filters and sort orders use.

ALTER TABLE cases
    ADD COLUMN workflow    text NOT NULL DEFAULT 'new',  -- new | investigating | resolved
    ADD COLUMN resolution  text,                         -- fraud | not_fraud | inconclusive
    ADD COLUMN assignee    text,
    ADD COLUMN claimed_by  text,
    ADD COLUMN claim_until timestamptz,
    ADD COLUMN workflow_at timestamptz,                  -- time of the audit record that set the workflow
    ADD COLUMN note_count  integer NOT NULL DEFAULT 0,
    ADD COLUMN limit_at    timestamptz,                  -- a hold's legal end: the 4th business day
    ADD COLUMN search_keys text[] NOT NULL DEFAULT '{}'; -- ids an officer searches by

CREATE OR REPLACE FUNCTION txmon_refresh_cases(ids text[]) RETURNS void LANGUAGE sql AS
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
    opened_at     = coalesce((c.hold->>'created_at')::timestamptz, agg.first_at),
    search_keys   = agg.keys
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
           min(a.detected_at) AS first_at,
           (SELECT array_agg(DISTINCT k) FROM case_alerts x, LATERAL unnest(ARRAY[
                x.case_id, x.alert_id, x.event_id, x.alert->>'account_id',
                x.alert->'event'->>'dest_account', x.alert->'event'->>'src_account',
                x.alert->'event'->>'ip', x.alert->'event'->>'device_id', x.alert->'evidence'->>'ip'
            ]) k WHERE x.case_id = a.case_id AND k IS NOT NULL AND k <> '') AS keys
    FROM case_alerts a WHERE a.case_id = ANY(ids) GROUP BY a.case_id
) agg ON agg.case_id = lead.case_id
WHERE c.case_id = lead.case_id;
$$;

-- Open: the hold (or the alert) is still in force and no officer resolved the case.
ALTER TABLE cases DROP COLUMN is_open;
ALTER TABLE cases ADD COLUMN is_open boolean NOT NULL
    GENERATED ALWAYS AS (status IN ('active', 'extended', 'open') AND workflow <> 'resolved') STORED;

-- Cases stored by version 1 get their search keys.
DO $$ BEGIN PERFORM txmon_refresh_cases(ARRAY(SELECT DISTINCT case_id FROM case_alerts)); END $$;

-- The queue: open cases in each sort order, filters by array membership, search by exact id.
CREATE INDEX cases_open_severity ON cases (severity_rank DESC, opened_at) WHERE is_open;
CREATE INDEX cases_open_opened ON cases (opened_at, case_id) WHERE is_open;
CREATE INDEX cases_open_amount ON cases (amount_vnd DESC NULLS LAST, case_id) WHERE is_open;
CREATE INDEX cases_open_expiry ON cases (expires_at, case_id) WHERE is_open;
CREATE INDEX cases_severity ON cases (severity_rank DESC, opened_at);
CREATE INDEX cases_opened ON cases (opened_at);
CREATE INDEX cases_rules ON cases USING gin (rules);
CREATE INDEX cases_channels ON cases USING gin (channels);
CREATE INDEX cases_search ON cases USING gin (search_keys);
CREATE INDEX cases_account ON cases (account_id);
CREATE INDEX cases_assignee ON cases (assignee) WHERE assignee IS NOT NULL;
CREATE INDEX cases_status ON cases (status);
