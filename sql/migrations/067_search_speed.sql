-- Car-source search fast for every filter (issue 13), on a database with production history.
--
-- The discount in points (下X点) as staff see it: the search filters, sorts and shows
-- round((guide - price) / guide * 100, 1) (console/services/search.py DISCOUNT). Indexing that
-- expression for live listings does two things: ANALYZE keeps statistics on it, so the
-- planner knows that 5 to 15 points is more than half of the live listings (without them it
-- guessed 0.5% and chose plans built for a handful of rows); and a search sorted by discount
-- walks the index from the best discount down instead of sorting every match.
CREATE INDEX listings_live_discount_idx ON app.listings
    ((round((guide_price - price) / guide_price * 100, 1)) DESC, id)
    WHERE status = 'live';

-- A broad search sorted by distance goes city by city from the nearest, taking each city's
-- cheapest live listings first: this index serves each city's ordered walk.
CREATE INDEX listings_live_city_price_idx ON app.listings (city_id, price, id)
    WHERE status = 'live';

-- The two flags pick out a few percent of the live listings (parallel imports ~5%, self-operated
-- ~1%) that no other index finds: without these, a search for them reads every live listing.
CREATE INDEX listings_live_parallel_idx ON app.listings (published_at DESC, id)
    WHERE status = 'live' AND is_parallel_import;
CREATE INDEX listings_live_self_operated_idx ON app.listings (published_at DESC, id)
    WHERE status = 'live' AND is_self_operated;

-- The expression's statistics now, not after the next autovacuum.
ANALYZE app.listings;
