-- Score every merchant of the features mart with one scorecard version, set-based:
-- unpivoted feature values join the bins of their factor, points add up per merchant, the
-- total finds its grade band. Parameters: :run_id, :version_id.
WITH version AS (
    SELECT id, ih_min_months, ih_min_deals, ih_grade
    FROM ops.credit_scorecard_versions
    WHERE id = :version_id
),
factor_points AS (
    SELECT fv.merchant_id, b.factor, b.factor_order, b.bin_no, b.points, b.max_points,
           coalesce(to_jsonb(fv.num_value), to_jsonb(fv.text_value), 'null'::jsonb) AS value
    FROM ops.credit_feature_values fv
    JOIN ops.credit_scorecard_bins b
      ON b.version_id = :version_id
     AND b.factor = fv.feature
     AND CASE WHEN fv.num_value IS NULL AND fv.text_value IS NULL THEN b.is_missing
              WHEN b.is_missing THEN false
              WHEN b.categories IS NOT NULL THEN fv.text_value = ANY (b.categories)
              ELSE fv.num_value >= coalesce(b.lower, '-Infinity'::numeric)
               AND fv.num_value <  coalesce(b.upper, 'Infinity'::numeric)
         END
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
graded AS (
    SELECT p.*,
           (SELECT g.grade FROM ops.credit_grade_bands g
            WHERE g.version_id = :version_id AND (g.min_score IS NULL OR p.score >= g.min_score)
            ORDER BY g.grade_rank
            LIMIT 1) AS score_grade,
           (f.months_on_platform < v.ih_min_months AND f.deals_total < v.ih_min_deals)
               AS insufficient_history,
           v.ih_grade
    FROM per_merchant p
    JOIN mart.merchant_features f ON f.merchant_id = p.merchant_id
    CROSS JOIN version v
)
INSERT INTO ops.credit_scores (run_id, merchant_id, score, score_grade, grade,
                               insufficient_history, factors, reasons)
SELECT :run_id, merchant_id, score, score_grade,
       CASE WHEN insufficient_history THEN ih_grade ELSE score_grade END,
       insufficient_history, factors, coalesce(reasons, '{}')
FROM graded
