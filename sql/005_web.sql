-- 005_web.sql — the worklist of the HTTPS side (DESIGN §6.2): a recipient's
-- queue newest first, acknowledged ones too (GET /api/v1/alerts?state=all).
CREATE INDEX alert_by_recipient ON alert (recipient, id);
