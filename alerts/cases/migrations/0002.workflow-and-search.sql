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

-- One set-based pass over the cases' alerts, inserting new cases directly (version 1 inserted an
-- empty row, then updated it with three subqueries per case). The rules are kept in id order
-- here; readers sort them by number.
CREATE OR REPLACE FUNCTION txmon_refresh_cases(ids text[]) RETURNS void LANGUAGE sql AS
$$
INSERT INTO cases AS c (case_id, account_id, severity, severity_rank, lead_alert_id, reason_vi, reason_en,
                        amount_vnd, rules, channels, alert_count, opened_at, search_keys)
SELECT case_id, lead->>'account_id', lead->>'severity', rank, lead_id, lead->>'reason_vi', lead->>'reason_en',
       coalesce(txmon_json_bigint(lead->'evidence'->'amount_vnd'), txmon_json_bigint(lead->'event'->'amount')),
       rules, channels, n, first_at, keys
FROM (
    SELECT a.case_id,
           (array_agg(a.alert ORDER BY a.severity_rank DESC, a.detected_at DESC, a.alert_id))[1] AS lead,
           (array_agg(a.alert_id ORDER BY a.severity_rank DESC, a.detected_at DESC, a.alert_id))[1] AS lead_id,
           max(a.severity_rank) AS rank,
           array_agg(DISTINCT a.rule_id ORDER BY a.rule_id) AS rules,
           array_remove(ARRAY[CASE WHEN bool_or(a.alert->'channels' ? 'bank') THEN 'bank' END,
                              CASE WHEN bool_or(a.alert->'channels' ? 'police') THEN 'police' END], NULL) AS channels,
           count(DISTINCT a.alert_id) AS n,
           min(a.detected_at) AS first_at,
           array_agg(DISTINCT k ORDER BY k) FILTER (WHERE k IS NOT NULL AND k <> '') AS keys
    FROM case_alerts a, LATERAL unnest(ARRAY[
        a.case_id, a.alert_id, a.event_id, a.alert->>'account_id',
        a.alert->'event'->>'dest_account', a.alert->'event'->>'src_account',
        a.alert->'event'->>'ip', a.alert->'event'->>'device_id', a.alert->'evidence'->>'ip'
    ]) AS k
    WHERE a.case_id = ANY(ids)
    GROUP BY a.case_id
) agg
ON CONFLICT (case_id) DO UPDATE SET
    account_id = excluded.account_id, severity = excluded.severity, severity_rank = excluded.severity_rank,
    lead_alert_id = excluded.lead_alert_id, reason_vi = excluded.reason_vi, reason_en = excluded.reason_en,
    amount_vnd = excluded.amount_vnd, rules = excluded.rules, channels = excluded.channels,
    alert_count = excluded.alert_count, search_keys = excluded.search_keys,
    opened_at = coalesce((c.hold->>'created_at')::timestamptz, excluded.opened_at);
-- Cases known so far only from an audit record or a report.
INSERT INTO cases (case_id) SELECT DISTINCT unnest(ids) ON CONFLICT (case_id) DO NOTHING;
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
