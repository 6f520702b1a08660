-- The logistics desk's queue (issue 20): a request taken by a person ("take" / "next") or
-- handed to a colleague shows on its timeline as an 'assigned' event, who to in note-free
-- form (actor_id = who acted; the assignee is the request's assignee_id at that moment and
-- the audit row's after). Migration 104's list of kinds did not have it.
ALTER TABLE lgx.request_events DROP CONSTRAINT request_events_kind_check;
ALTER TABLE lgx.request_events ADD CONSTRAINT request_events_kind_check
    CHECK (kind IN ('created','status','note','quote','booked','unbooked','claim','rating',
                    'assigned'));
-- Who the request was given to, for an 'assigned' event (NULL for every other kind).
ALTER TABLE lgx.request_events ADD COLUMN assignee_id bigint REFERENCES ops.staff(id);
