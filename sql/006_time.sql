-- 006_time.sql — time (DESIGN §5.1 SCHOOL_STIL, §5.2 Peildatum, §6.2 freshness).
--
-- school_day: what each vo school delivered per cohort and day (received_at /
-- 86400, UTC): the accepted events and the last moment. One row per writer
-- (an instance's ingest shard), so concurrent group transactions never wait
-- for each other here; readers add the writers up.
CREATE TABLE school_day (
    school  text COLLATE "C" NOT NULL,
    cohort  integer NOT NULL,
    day     integer NOT NULL,
    writer  text    NOT NULL,
    events  integer NOT NULL,
    last_at bigint  NOT NULL,
    PRIMARY KEY (school, cohort, day, writer)
);
CREATE INDEX school_day_by_cohort ON school_day (cohort, school);

-- what school_day has not seen: the events stored before it existed
INSERT INTO school_day (school, cohort, day, writer, events, last_at)
SELECT e.school, e.cohort, (e.received_at / 86400)::int, 'migration', count(*), max(e.received_at)
FROM event e
WHERE e.kind BETWEEN @EVENT_OVERSTAPPER_GEREGISTREERD@ AND @EVENT_VO_UITGESCHREVEN@
GROUP BY 1, 2, 3;

-- at most one open SCHOOL_STIL per (school, cohort)
CREATE UNIQUE INDEX alert_school_stil_open ON alert (vo_school, cohort)
    WHERE kind = @ALERT_SCHOOL_STIL@ AND resolved_at IS NULL;

-- The moment from which this database holds every event it was sent: a
-- peildatum before it has no exact answer (AS_OF_UNAVAILABLE). Set by the
-- daemon at its first start (its own clock), moved by nothing but a future
-- pruning of the event log.
CREATE TABLE log_horizon (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    starts_at  bigint NOT NULL
);
INSERT INTO log_horizon (starts_at) SELECT min(received_at) FROM event HAVING min(received_at) IS NOT NULL;
