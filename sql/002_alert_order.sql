-- 002_alert_order.sql — alerts reach a queue in alert_id order.
--
-- alert.id comes from a sequence when a row is inserted, not when its
-- transaction commits. Two transactions raising alerts at once (the two ingest
-- shards, a sweep, the escalation check, another instance) could otherwise
-- commit id 24 before id 23, and a subscriber would receive 24 first and 23
-- after it. Every statement that inserts alerts calls overstap_alert_order()
-- once before its first row: a transaction-level advisory lock, so the
-- transactions that insert alerts take their ids one after another, each after
-- the previous one committed. Callers pass the number of rows they may insert,
-- counted over the rows they update first (states, alerts): so every
-- transaction takes its row locks before this lock, never the other way round
-- (no deadlock), and a statement with nothing to insert takes no lock at all.
CREATE FUNCTION overstap_alert_order(candidates bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF candidates > 0 THEN
        -- (namespace, key): 0x6f767374 = 'ovst', 1 = the alert order
        PERFORM pg_advisory_xact_lock(1870033780, 1);
    END IF;
    RETURN true;
END $$;
