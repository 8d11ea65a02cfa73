-- 004_whose_pupil.sql — claims, personal data per school, the audit of reads
-- (DESIGN §5 "Whose pupil", "Who may read a pupil").
--
-- A pupil's state now keeps what every vo school said apart (the facts in
-- pupil_state.facts, version 2); the schools whose claims compete with the
-- vo school's are listed in `competing` for the projectteam.
ALTER TABLE pupil_state ADD COLUMN competing text COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX pupil_state_competing ON pupil_state (cohort, vo_school) WHERE competing <> '';

-- Personal data per source: each school's own latest registration, each
-- institution's own latest report. What a pupil's name is follows from the
-- state (overstap_personal below): the vo school's registration, else —
-- while no vo school registered the pupil — the latest mbo report.
CREATE TABLE pupil_personal (
    pupil_id        bigint  NOT NULL,
    cohort          integer NOT NULL,
    source          text COLLATE "C" NOT NULL,   -- the school (vo) or institution (mbo) that said it
    is_registration boolean NOT NULL,
    name            text,
    birth_date      date,
    at              bigint  NOT NULL,            -- occurred_at of the event that said it
    PRIMARY KEY (pupil_id, cohort, source)
);
INSERT INTO pupil_personal (pupil_id, cohort, source, is_registration, name, birth_date, at)
SELECT s.pupil_id, s.cohort, CASE WHEN s.registered THEN s.vo_school ELSE '' END, s.registered,
       p.name, p.birth_date, p.personal_at
FROM pupil_state s JOIN pupil p ON p.id = s.pupil_id
WHERE p.name IS NOT NULL OR p.birth_date IS NOT NULL;
ALTER TABLE pupil DROP COLUMN name, DROP COLUMN birth_date, DROP COLUMN personal_at;

-- The RMC region of a pupil (DESIGN §5.1): that of the woongemeente, else
-- that of the gemeente of the vo school; NULL when neither is known.
CREATE FUNCTION overstap_region_of(p_woongemeente text, p_vo_school text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT g.region FROM gemeente g WHERE g.code = p_woongemeente),
                    (SELECT g.region FROM school sc JOIN gemeente g ON g.code = sc.gemeente
                     WHERE sc.code = p_vo_school))
$$;

-- The personal data of a pupil in a cohort, as DESIGN §5 says whose it is.
CREATE FUNCTION overstap_personal(p_pupil bigint, p_cohort integer) RETURNS TABLE (name text, birth_date date)
LANGUAGE sql STABLE AS $$
    SELECT pp.name, pp.birth_date
    FROM pupil_state s JOIN pupil_personal pp ON pp.pupil_id = s.pupil_id AND pp.cohort = s.cohort
    WHERE s.pupil_id = p_pupil AND s.cohort = p_cohort
      AND CASE WHEN s.registered THEN pp.is_registration AND pp.source = s.vo_school
               ELSE NOT pp.is_registration END
    ORDER BY pp.at DESC, pp.source DESC
    LIMIT 1
$$;

-- Who saw a pupil's personal data: every PupilReply, every delivery of an
-- alert with its PGN (redeliveries too), every web answer with pupil rows —
-- written in the same statement as the read. Removed with the personal data
-- of the cohort by retention.
CREATE TABLE audit (
    id       bigserial PRIMARY KEY,
    at       bigint  NOT NULL,              -- the daemon's time
    role     text    NOT NULL,
    org      text    NOT NULL,
    pupil_id bigint  NOT NULL,
    cohort   integer NOT NULL,
    what     text    NOT NULL CHECK (what IN ('pupil_query', 'alert_delivery', 'web'))
);
CREATE INDEX audit_by_pupil ON audit (pupil_id, cohort, id);
CREATE INDEX audit_by_cohort ON audit (cohort);
