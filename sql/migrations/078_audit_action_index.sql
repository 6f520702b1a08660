-- The audit page's filter by action (console/services/audit_log.py): its count and its
-- page, newest first, had no index to use. On a 2,000,000-row log with an action that is
-- 0.1% of it, EXPLAIN ANALYZE showed a parallel seq scan for the count (283 ms) and for a
-- page past the first thousand rows (286 ms), and the first page walked the primary key
-- backwards past 49,000 other rows. With (action, id) both are index-only scans: the
-- count 6 ms, the first page 0.06 ms, a page at offset 1,000 1 ms.
CREATE INDEX audit_log_action_idx ON ops.audit_log (action, id);
