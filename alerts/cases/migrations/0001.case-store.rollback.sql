DROP FUNCTION txmon_refresh_cases(text[]);
DROP FUNCTION txmon_json_bigint(jsonb);
DROP FUNCTION txmon_rule_order(text);
DROP TABLE case_events;
DROP TABLE case_alerts;
DROP TABLE cases;
