-- 003_codes_and_routing.sql — one source for the numbers, one routing.
--
-- code_value: the number every code (an alert kind, a status, an event
-- kind, a recipient bit) had when this database's rows were written. The
-- daemon fills it from its C enums (daemon/sqlcodes.c) at every migration
-- run and refuses a binary whose numbers differ: stored rows would mean
-- something else.
CREATE TABLE code_value (
    name  text PRIMARY KEY,
    value integer NOT NULL
);

-- The recipients of an alert raised for a pupil (DESIGN §5.1), for ingest
-- and the deadline sweeps alike: rmc:<region> when p_rcpt has
-- @RECIPIENT_RMC@ and a region is known — that of the woongemeente, else
-- that of the gemeente of the vo school —, vo:<school> when p_rcpt has
-- @RECIPIENT_VO@ and the school is known. Also the alert's region ('' when
-- none). A plain SQL function: the planner inlines it into the statement.
CREATE FUNCTION overstap_alert_recipients(p_rcpt integer, p_woongemeente text, p_vo_school text)
RETURNS TABLE (recipient text, alert_region text)
LANGUAGE sql STABLE AS $$
    SELECT r.recipient, coalesce(gw.region, gs.region, '')
    FROM (SELECT 1) AS one
    LEFT JOIN gemeente gw ON gw.code = p_woongemeente
    LEFT JOIN school sc ON sc.code = p_vo_school
    LEFT JOIN gemeente gs ON gs.code = sc.gemeente
    CROSS JOIN LATERAL (VALUES
        (CASE WHEN p_rcpt & @RECIPIENT_RMC@ <> 0 AND coalesce(gw.region, gs.region) IS NOT NULL
              THEN 'rmc:' || coalesce(gw.region, gs.region) END),
        (CASE WHEN p_rcpt & @RECIPIENT_VO@ <> 0 AND p_vo_school <> ''
              THEN 'vo:' || p_vo_school END)) AS r(recipient)
    WHERE r.recipient IS NOT NULL
$$;
