-- Score every merchant of the features mart with one scorecard version, set-based:
-- unpivoted feature values find their bin (width_bucket over the factor's edges), bins give
-- points, points add up per merchant, the total finds its grade band. A merchant with fewer
-- completed deals than ih_min_deals (or younger than ih_min_months) is flagged and gets the
-- version's ih_grade (NEW). purchases_12m = completed orders as buyer in the 12 months before
-- the features' date, for the limit (migration 083). Parameters: :run_id, :version_id.
WITH version AS (
    SELECT id, ih_min_months, ih_min_deals, ih_grade
    FROM ops.credit_scorecard_versions
    WHERE id = :version_id
),
-- One row per factor: its bin edges as a sorted array (width_bucket finds a numeric value's
-- bin in one step, no range join) and its points by bin (bins are numbered 0..n, 0 = missing).
factor_table AS (
    SELECT factor, min(factor_order) AS factor_order, max(max_points) AS max_points,
           array_agg(lower ORDER BY bin_no)
               FILTER (WHERE lower IS NOT NULL AND categories IS NULL) AS lower_bounds,
           array_agg(points ORDER BY bin_no) AS points_by_bin
    FROM ops.credit_scorecard_bins
    WHERE version_id = :version_id
    GROUP BY factor
),
category_bins AS (
    SELECT factor, unnest(categories) AS category, bin_no
    FROM ops.credit_scorecard_bins
    WHERE version_id = :version_id AND categories IS NOT NULL
),
binned AS (
    SELECT fv.merchant_id, fv.feature AS factor, ft.factor_order, ft.max_points,
           ft.points_by_bin,
           coalesce(to_jsonb(fv.num_value), to_jsonb(fv.text_value), 'null'::jsonb) AS value,
           -- numeric bin n covers [edge n-1, edge n), exactly as width_bucket counts edges
           CASE WHEN fv.num_value IS NULL AND fv.text_value IS NULL THEN 0
                WHEN fv.text_value IS NOT NULL THEN cb.bin_no
                WHEN ft.lower_bounds IS NULL THEN 1
                ELSE width_bucket(fv.num_value, ft.lower_bounds) + 1
           END AS bin_no
    FROM ops.credit_feature_values fv
    JOIN factor_table ft ON ft.factor = fv.feature
    LEFT JOIN category_bins cb ON cb.factor = fv.feature AND cb.category = fv.text_value
),
factor_points AS (
    SELECT merchant_id, factor, factor_order, max_points, value, bin_no,
           points_by_bin[bin_no + 1] AS points
    FROM binned
),
-- Grade bands as score ranges [min_score, next better band's min_score).
bands AS (
    SELECT grade, coalesce(min_score, -2147483648) AS lo,
           coalesce(lag(min_score) OVER (ORDER BY grade_rank), 2147483647) AS hi
    FROM ops.credit_grade_bands
    WHERE version_id = :version_id
),
per_merchant AS (
    SELECT merchant_id,
           sum(points)::integer AS score,
           jsonb_object_agg(factor, jsonb_build_object('value', value, 'bin', bin_no,
                                                       'points', points)) AS factors,
           -- the factors that cost the most points against their best bin, worst first
           (array_agg(factor ORDER BY max_points - points DESC, factor_order)
                FILTER (WHERE points < max_points))[1:3] AS reasons
    FROM factor_points
    GROUP BY merchant_id
),
as_of AS (
    SELECT (max(as_of_date)::timestamp AT TIME ZONE 'Asia/Shanghai') AS ts
    FROM mart.merchant_features
),
purchases AS (
    SELECT o.buyer_id AS merchant_id, sum(o.amount) AS purchases_12m
    FROM etl.clean_orders o CROSS JOIN as_of a
    WHERE o.status = 'completed' AND o.completed_at < a.ts
      AND o.completed_at >= a.ts - interval '12 months'
    GROUP BY o.buyer_id
),
graded AS (
    SELECT p.*, g.grade AS score_grade,
           (f.months_on_platform < v.ih_min_months OR f.deals_total < v.ih_min_deals)
               AS insufficient_history,
           v.ih_grade, coalesce(pu.purchases_12m, 0) AS purchases_12m
    FROM per_merchant p
    JOIN mart.merchant_features f ON f.merchant_id = p.merchant_id
    JOIN bands g ON p.score >= g.lo AND p.score < g.hi
    LEFT JOIN purchases pu ON pu.merchant_id = p.merchant_id
    CROSS JOIN version v
)
INSERT INTO ops.credit_scores (run_id, merchant_id, score, score_grade, grade,
                               insufficient_history, factors, reasons, purchases_12m)
SELECT :run_id, merchant_id, score, score_grade,
       CASE WHEN insufficient_history THEN ih_grade ELSE score_grade END,
       insufficient_history, factors, coalesce(reasons, '{}'), purchases_12m
FROM graded
