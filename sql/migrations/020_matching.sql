-- Matchmaking: stored top-K suggestions, lead ownership, the deal board's stage history,
-- and the indexes car-source search and candidate generation lean on.

-- Great-circle distance (haversine, mean Earth radius) between two coordinates, in km.
-- Stands in for logistics cost; IMMUTABLE so the planner can fold it per city pair.
CREATE FUNCTION ops.great_circle_km(lat1 double precision, lon1 double precision,
                                    lat2 double precision, lon2 double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 2 * 6371.0088 * asin(least(1.0, sqrt(
               power(sin(radians(lat2 - lat1) / 2), 2)
             + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lon2 - lon1) / 2), 2))))
$$;

-- The top K automatic suggestions per open request, each with its explainable components.
-- rank is dense 1..K per request, maintained by the recompute (no unique constraint, so an
-- incremental merge can insert first and re-rank after).
CREATE TABLE ops.match_suggestions (
    request_id   bigint NOT NULL REFERENCES app.requests(id),
    listing_id   bigint NOT NULL REFERENCES app.listings(id),
    rank         smallint NOT NULL CHECK (rank >= 1),
    score        numeric(8,3) NOT NULL CHECK (score BETWEEN 0 AND 100),
    components   jsonb NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, listing_id)
);
CREATE INDEX match_suggestions_listing_idx ON ops.match_suggestions (listing_id);

-- Lead ownership: one row per owned lead (a request); the primary key makes "one owner" the
-- database's rule. Returning a lead to the pool deletes its row (the audit log keeps history).
CREATE TABLE ops.lead_claims (
    request_id       bigint PRIMARY KEY REFERENCES app.requests(id),
    owner_id         bigint NOT NULL REFERENCES ops.staff(id),
    claimed_at       timestamptz NOT NULL DEFAULT now(),
    last_touched_at  timestamptz NOT NULL DEFAULT now(),
    assigned_by      bigint REFERENCES ops.staff(id),   -- NULL: taken from the pool
    version          integer NOT NULL DEFAULT 1
);
CREATE INDEX lead_claims_owner_idx ON ops.lead_claims (owner_id);
CREATE INDEX lead_claims_touched_idx ON ops.lead_claims (last_touched_at);

-- Every stage move of a deal card (the card's timeline); from_stage NULL = card created.
CREATE TABLE ops.match_stage_history (
    id           bigserial PRIMARY KEY,
    match_id     bigint NOT NULL REFERENCES ops.matches(id),
    from_stage   text CHECK (from_stage IN ('suggested','contacted','negotiating','deposit_paid','won','lost')),
    to_stage     text NOT NULL CHECK (to_stage IN ('suggested','contacted','negotiating','deposit_paid','won','lost')),
    staff_id     bigint REFERENCES ops.staff(id),
    is_override  boolean NOT NULL DEFAULT false,
    reason       text,
    at           timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT is_override OR reason IS NOT NULL)
);
CREATE INDEX match_stage_history_match_idx ON ops.match_stage_history (match_id, at);
CREATE INDEX match_stage_history_stage_idx ON ops.match_stage_history (to_stage, at);

ALTER TABLE ops.matches ADD COLUMN created_by bigint REFERENCES ops.staff(id);
CREATE INDEX matches_request_idx ON ops.matches (request_id);
CREATE INDEX matches_listing_idx ON ops.matches (listing_id);
CREATE INDEX matches_next_action_idx ON ops.matches (next_action_at)
    WHERE stage NOT IN ('won','lost');

-- Search and candidate generation: live listings by trim and price, by freshness;
-- open requests by trim / series; the vehicle library walked from brand down.
CREATE INDEX IF NOT EXISTS trims_series_idx ON app.trims (series_id);
CREATE INDEX IF NOT EXISTS series_brand_idx ON app.series (brand_id);
CREATE INDEX listings_live_trim_price_idx ON app.listings (trim_id, price) WHERE status = 'live';
CREATE INDEX listings_live_published_idx ON app.listings (published_at DESC) WHERE status = 'live';
CREATE INDEX listings_live_price_idx ON app.listings (price) WHERE status = 'live';
CREATE INDEX requests_open_trim_idx ON app.requests (trim_id) WHERE status = 'open';
CREATE INDEX requests_open_series_idx ON app.requests (series_id) WHERE status = 'open' AND trim_id IS NULL;
CREATE INDEX bids_request_price_idx ON app.bids (request_id, price) WHERE status = 'active';
CREATE INDEX notification_outbox_template_idx ON app.notification_outbox (template, status, send_after);
