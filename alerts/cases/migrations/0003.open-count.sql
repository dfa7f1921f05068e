-- depends: 0002.workflow-and-search
-- The number of open cases, kept exact by statement-level triggers (one update per statement, from
-- its transition tables), so the queue's headline count costs one row read instead of a count of
-- every open case.

CREATE TABLE case_counts (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    open     bigint NOT NULL
);
INSERT INTO case_counts (open) SELECT count(*) FROM cases WHERE is_open;

CREATE FUNCTION txmon_count_inserted() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN
    UPDATE case_counts SET open = open + (SELECT count(*) FROM new_rows WHERE is_open);
    RETURN NULL;
END $$;
CREATE FUNCTION txmon_count_updated() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN
    UPDATE case_counts SET open = open + (SELECT count(*) FROM new_rows WHERE is_open)
                                       - (SELECT count(*) FROM old_rows WHERE is_open);
    RETURN NULL;
END $$;
CREATE FUNCTION txmon_count_deleted() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN
    UPDATE case_counts SET open = open - (SELECT count(*) FROM old_rows WHERE is_open);
    RETURN NULL;
END $$;
CREATE FUNCTION txmon_count_truncated() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN
    UPDATE case_counts SET open = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER cases_count_insert AFTER INSERT ON cases REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION txmon_count_inserted();
CREATE TRIGGER cases_count_update AFTER UPDATE ON cases REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION txmon_count_updated();
CREATE TRIGGER cases_count_delete AFTER DELETE ON cases REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION txmon_count_deleted();
CREATE TRIGGER cases_count_truncate AFTER TRUNCATE ON cases
    FOR EACH STATEMENT EXECUTE FUNCTION txmon_count_truncated();
