-- Parallel imports' price reference and search (issue 21; console/imports/prices.py,
-- console/services/search.py).
--
-- The price reference of an import is the median of the recent deals and the live listings
-- of its trim and market version (parallel imports only). The listing review page and each
-- page of search results read it for one listing or fifty, and the authenticity scan for
-- every live import: each reads the imports of one trim, then their deals. Without these,
-- the first meant reading every listing of a popular trim (domestic ones included) and the
-- second a sequential scan of the orders per import.
CREATE INDEX listings_parallel_trim_idx ON app.listings (trim_id, status) INCLUDE (price)
    WHERE is_parallel_import;
CREATE INDEX orders_deal_listing_idx ON app.orders (listing_id)
    INCLUDE (unit_price, completed_at, deposit_paid_at, created_at)
    WHERE status IN ('deposit_paid', 'completed');
