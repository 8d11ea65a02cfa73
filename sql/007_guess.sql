-- 007_guess.sql — the check of a speculative ingest group (daemon/grouptxn.c).
--
-- A group of events for pupils the daemon has never seen, or whose states it
-- holds, guesses that those pupils and all its events are new and sends
-- everything, COMMIT included, in one round trip. Its inserts count what they
-- inserted; a count short of the guess fails the transaction here
-- (serialization failure, so nothing of it stays) and the daemon runs the
-- group again in two steps. Says nothing of the rows: no PGN or event id
-- reaches the server's log, as a unique violation would write them.
CREATE FUNCTION overstap_guess(what text, guessed integer, got integer) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    IF guessed <> got THEN
        RAISE EXCEPTION 'overstapd guessed % new %, % were: the group runs again in two steps', guessed, what, got
            USING ERRCODE = '40001';
    END IF;
    RETURN got;
END $$;
