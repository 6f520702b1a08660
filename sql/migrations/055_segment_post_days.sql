-- State of job segment_kpis, second part: the per-day counts of posts created (listings,
-- requests, requests with a match / with a deposit) follow a batch of changed posts the way
-- the end-of-day snapshots already do (047), instead of recounting every listing and request
-- each run. A 1% change touches every day of the history, so "recount the touched days" read
-- all 1.3M posts again; the deltas read the changed ones.

-- Per request, as the job last saw it: whether it had a match, and a paid deposit.
ALTER TABLE etl.segment_post_moves
    ADD COLUMN matched boolean NOT NULL DEFAULT false,
    ADD COLUMN deposited boolean NOT NULL DEFAULT false;

-- The per-day tables now hold every per-post figure of a day, not only the snapshot moves.
ALTER TABLE etl.segment_snapshot_moves RENAME TO segment_post_days;
ALTER TABLE etl.segment_post_days
    ADD COLUMN listings_created integer NOT NULL DEFAULT 0,
    ADD COLUMN requests_created integer NOT NULL DEFAULT 0,
    ADD COLUMN requests_matched integer NOT NULL DEFAULT 0,
    ADD COLUMN requests_deposited integer NOT NULL DEFAULT 0;
ALTER TABLE etl.brand_snapshot_moves RENAME TO brand_post_days;
ALTER TABLE etl.brand_post_days
    ADD COLUMN listings_created integer NOT NULL DEFAULT 0,
    ADD COLUMN requests_created integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN etl.segment_post_days.listings IS
    'snapshot move: +1 per listing going live that day, -1 per listing leaving';
COMMENT ON COLUMN etl.segment_post_days.listings_created IS 'listings published that day';

-- The state kept so far has no created counts: the job starts over. With no watermark its
-- next run stages every row, and with empty state and marts that run is a full rebuild.
TRUNCATE etl.segment_post_moves, etl.segment_post_days, etl.brand_post_days,
         mart.daily_kpis_segment, mart.daily_kpis_brand;
DELETE FROM etl.watermarks WHERE job = 'segment_kpis';
