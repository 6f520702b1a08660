-- State of job segment_kpis, so that its end-of-day snapshots (live listings / open
-- requests per segment and per brand) follow a batch of changed posts without re-reading
-- every listing and request each run.

-- Per post, as the job last saw it: the segment and brand it counts in, the day it enters
-- the snapshot and the day it leaves it (NULL while still live / open). A changed post's
-- old moves are taken back and its new ones added.
CREATE TABLE etl.segment_post_moves (
    kind           char(1) NOT NULL,          -- 'l' listing, 'r' request
    post_id        bigint NOT NULL,
    tier_level     smallint NOT NULL,
    merchant_type  text NOT NULL,
    brand_id       integer,                   -- NULL: trim / series unknown (no brand row)
    day_in         date,
    day_out        date,
    PRIMARY KEY (kind, post_id)
);

-- The moves summed per day: +1 on the day a post enters, -1 on the day it leaves. The
-- running sum over days is the snapshot.
CREATE TABLE etl.segment_snapshot_moves (
    day            date NOT NULL,
    tier_level     smallint NOT NULL,
    merchant_type  text NOT NULL,
    listings       integer NOT NULL DEFAULT 0,
    requests       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, tier_level, merchant_type)
);

CREATE TABLE etl.brand_snapshot_moves (
    day            date NOT NULL,
    brand_id       integer NOT NULL,
    listings       integer NOT NULL DEFAULT 0,
    requests       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, brand_id)
);
