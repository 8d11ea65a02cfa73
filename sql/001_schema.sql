-- 001_schema.sql — the whole store of overstapd.
--
-- Reference data (regions, gemeenten, vo schools); personal data (pupil) kept
-- apart from the append-only event log and the current state per pupil and
-- cohort, which refer to it by a surrogate key; alert queues; deadline sweeps.
-- Applied by `overstapd --migrate` (and at start-up), recorded in
-- schema_migrations by the daemon. A code between at-signs, @ALERT_ZOMERLEK@,
-- is the number of that C enum value (daemon/sqlcodes.c), filled in when the
-- migration is applied.

-- Key columns compare bytewise (COLLATE "C"): codes and ids have no
-- linguistic order, and a libc collation made every B-tree comparison a
-- strcoll() call (the largest single cost of ingest in the profile).

-- ---- reference data -------------------------------------------------------
CREATE TABLE region (
    code text COLLATE "C" PRIMARY KEY CHECK (code ~ '^[0-9]{2}$'),   -- RMC region, '39'
    naam text NOT NULL
);

CREATE TABLE gemeente (
    code   text COLLATE "C" PRIMARY KEY CHECK (code ~ '^GM[0-9]{4}$'),
    naam   text NOT NULL,
    region text COLLATE "C" REFERENCES region (code)
);

CREATE TABLE school (
    code     text COLLATE "C" PRIMARY KEY CHECK (code ~ '^[0-9]{2}[A-Z]{2}[0-9]{2}$'), -- BRIN + vestiging
    brin     text COLLATE "C" NOT NULL CHECK (brin ~ '^[0-9]{2}[A-Z]{2}$'),
    naam     text NOT NULL,
    gemeente text COLLATE "C" REFERENCES gemeente (code),
    structuur text NOT NULL DEFAULT ''
);

-- ---- personal data: the only table with PGN, name and birth date ---------
CREATE TABLE pupil (
    id          bigserial PRIMARY KEY,
    pgn         text COLLATE "C" UNIQUE CHECK (pgn ~ '^[0-9]{9}$'),  -- NULL once retention removed it
    name        text,
    birth_date  date,
    personal_at bigint NOT NULL DEFAULT 0   -- occurred_at of the registration that set them
);

-- ---- the event log: append-only, one row per accepted event --------------
CREATE TABLE event (
    org            text COLLATE "C" NOT NULL,   -- sending organisation (certificate CN)
    event_id       text COLLATE "C" NOT NULL,
    pupil_id       bigint   NOT NULL,
    cohort         integer  NOT NULL,
    kind           smallint NOT NULL,
    occurred_at    bigint   NOT NULL,
    received_at    bigint   NOT NULL,
    school         text     NOT NULL,
    woongemeente   text     NOT NULL DEFAULT '',
    vo_soort       smallint NOT NULL DEFAULT 0,
    bestemming     smallint NOT NULL DEFAULT 0,
    crebo          text     NOT NULL DEFAULT '',
    mbo_instelling text     NOT NULL DEFAULT '',
    niveau         smallint NOT NULL DEFAULT 0,
    leerweg        smallint NOT NULL DEFAULT 0,
    reason         text     NOT NULL DEFAULT '',
    PRIMARY KEY (org, event_id)
);
CREATE INDEX event_by_pupil ON event (pupil_id, cohort);

-- ---- current state per pupil and cohort ----------------------------------
-- facts: overstap_state_encode() of the merged state; the other columns are
-- derived from it (and the calendar) for statistics, sweeps and routing.
CREATE TABLE pupil_state (
    pupil_id           bigint   NOT NULL,
    cohort             integer  NOT NULL,
    facts              bytea    NOT NULL,
    status             smallint NOT NULL,
    registered         boolean  NOT NULL,   -- a vo school registered the pupil
    left_vo            boolean  NOT NULL,
    has_ddd            boolean  NOT NULL,
    vo_school          text COLLATE "C" NOT NULL DEFAULT '',
    vo_soort           smallint NOT NULL DEFAULT 0,
    woongemeente       text     NOT NULL DEFAULT '',
    mbo_instelling     text     NOT NULL DEFAULT '',
    crebo              text     NOT NULL DEFAULT '',
    first_aangemeld_at bigint   NOT NULL DEFAULT 0,
    had_zomerlek       boolean  NOT NULL DEFAULT false,
    had_niet_gestart   boolean  NOT NULL DEFAULT false,
    updated_at         bigint   NOT NULL,
    version            bigint   NOT NULL DEFAULT 0,   -- +1 per write: optimistic check across instances
    PRIMARY KEY (pupil_id, cohort)
) WITH (fillfactor = 80);   -- room for HOT updates: most writes change no indexed column
CREATE INDEX pupil_state_by_school ON pupil_state (cohort, vo_school);

-- Raises a serialization failure (the writer retries the whole group) when a
-- set-based write touched fewer rows than it expected: another writer changed
-- a state between our read and our write.
CREATE FUNCTION overstap_expect(expected integer, got integer) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    IF expected <> got THEN
        RAISE EXCEPTION 'expected % rows, wrote %: state changed concurrently', expected, got
            USING ERRCODE = '40001';
    END IF;
    RETURN got;
END $$;

-- ---- alerts: one durable queue per recipient ------------------------------
CREATE TABLE alert (
    id                 bigserial PRIMARY KEY,
    recipient          text COLLATE "C" NOT NULL,   -- rmc:39, vo:25LX00, projectteam:39
    kind               smallint NOT NULL,
    pupil_id           bigint,
    cohort             integer  NOT NULL,
    region             text     NOT NULL DEFAULT '',
    vo_school          text     NOT NULL DEFAULT '',
    woongemeente       text     NOT NULL DEFAULT '',
    status             smallint NOT NULL DEFAULT 0,
    mbo_instelling     text     NOT NULL DEFAULT '',
    crebo              text     NOT NULL DEFAULT '',
    reason             text     NOT NULL DEFAULT '',
    raised_at          bigint   NOT NULL,
    resolves_alert_id  bigint,
    escalated_alert_id bigint,
    resolved_at        bigint,              -- open (domain) until resolved
    escalated_at       bigint,
    acked_at           bigint,              -- delivered and acknowledged
    lease_until        bigint,              -- delivered, awaiting ack until then
    lease_owner        text,
    deliveries         integer  NOT NULL DEFAULT 0
);
-- at most one open alert per (pupil, cohort, kind, recipient)
CREATE UNIQUE INDEX alert_open_once ON alert (pupil_id, cohort, kind, recipient)
    WHERE resolved_at IS NULL AND kind IN (@ALERT_ZOMERLEK@, @ALERT_NIET_GESTART@, @ALERT_GEEN_AANMELDING@);
CREATE INDEX alert_queue ON alert (recipient, id) WHERE acked_at IS NULL;
CREATE INDEX alert_by_pupil ON alert (pupil_id, cohort);
-- RMC alerts that may still escalate
CREATE INDEX alert_escalation ON alert (raised_at)
    WHERE acked_at IS NULL AND escalated_at IS NULL AND resolved_at IS NULL
      AND kind IN (@ALERT_ZOMERLEK@, @ALERT_NIET_GESTART@);
CREATE INDEX alert_lease_owner ON alert (lease_owner) WHERE lease_owner IS NOT NULL AND acked_at IS NULL;

-- ---- deadline sweeps: each (cohort, deadline) runs once -------------------
CREATE TABLE sweep_run (
    cohort   integer NOT NULL,
    deadline text    NOT NULL,
    ran_at   bigint  NOT NULL,
    alerts   integer NOT NULL,
    PRIMARY KEY (cohort, deadline)
);
