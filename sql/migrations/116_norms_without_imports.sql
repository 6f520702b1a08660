-- A series' usual discount (ops.series_norms, migration 081) without the parallel imports
-- (issue 21). An import has no Chinese guide price: the guide price its listing carries is
-- the domestic trim's, so its "discount" off it says nothing about the domestic market (a
-- Gulf-spec Land Cruiser sells above the domestic guide, a US-spec GLS far below), and it
-- moved the figure the authenticity scan flags domestic listings against and the match score
-- caps their discount at. Imports are judged by their own price reference
-- (console/imports/prices.py) instead, by the scan and, through its flags, by matching.
--
-- The same function as 081's, the imports left out of every level (series, brand of the same
-- origin, origin, market). ops.series_norms itself is rewritten by the next scan (every
-- scheduled run), which queues the series whose figure moved for a rematch.
CREATE OR REPLACE FUNCTION ops.series_norms_derived(p_min_n integer)
RETURNS TABLE (series_id integer, usual_points double precision, basis text, listings integer)
LANGUAGE sql STABLE AS $$
WITH points AS (
    SELECT t.series_id, se.brand_id, se.origin,
           CAST((l.guide_price - l.price) / l.guide_price * 100 AS double precision) AS points
    FROM app.listings l JOIN app.trims t ON t.id = l.trim_id JOIN app.series se ON se.id = t.series_id
    WHERE l.status IN ('live','sold','expired') AND NOT l.is_parallel_import
),
usual AS (
    SELECT series_id, count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY points) AS usual
    FROM points GROUP BY series_id
),
brand_usual AS (   -- a thin series: its brand's cars of the same origin (an import is not local)
    SELECT brand_id, origin, count(*) AS n,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY points) AS usual
    FROM points GROUP BY brand_id, origin
),
origin_usual AS (
    SELECT origin, count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY points) AS usual
    FROM points GROUP BY origin
),
market AS (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY points) AS usual FROM points)
SELECT se.id,
       round(CAST(CASE WHEN u.n >= p_min_n THEN u.usual WHEN bu.n >= p_min_n THEN bu.usual
                       WHEN ou.n >= p_min_n THEN ou.usual ELSE m.usual END AS numeric), 1)::float8,
       CASE WHEN u.n >= p_min_n THEN 'series' WHEN bu.n >= p_min_n THEN 'brand'
            WHEN ou.n >= p_min_n THEN 'origin' ELSE 'market' END,
       coalesce(u.n, 0)::integer
FROM app.series se
LEFT JOIN usual u ON u.series_id = se.id
LEFT JOIN brand_usual bu ON bu.brand_id = se.brand_id AND bu.origin = se.origin
LEFT JOIN origin_usual ou ON ou.origin = se.origin
CROSS JOIN market m
WHERE m.usual IS NOT NULL
$$;
