-- Matching at scale (issue 5 speed targets): the candidate search of the automatic
-- suggestions reads live listings by (trim, price <= the buyer's maximum) and then filters on
-- quantity, availability, colour and seller, and scores by guide price, city and publication
-- time. Carrying those columns in the index lets each request's candidates come from an
-- index-only scan (no heap visit per candidate: ~3M candidate pairs in a full recompute).
CREATE INDEX listings_live_match_idx ON app.listings (trim_id, price)
    INCLUDE (quantity, available_from, exterior_color, merchant_id, city_id, guide_price,
             published_at, id)
    WHERE status = 'live';

-- Same keys and predicate as the index above, which serves every query this one did
-- (car-source search by trim and price included): one index less to maintain per write.
DROP INDEX app.listings_live_trim_price_idx;
