-- The segment_kpis job joins daily_kpis: a day's platform figures are now the sums of its
-- segments, computed in the same transaction, instead of a second job recounting the same
-- rows with a copy of the same SQL. The per-post state (047, 055) is daily_kpis' now.
--
-- Both jobs start over: with no watermark the next daily_kpis run stages every row, and with
-- empty state and marts that run is a full rebuild. The run history of segment_kpis stays.
TRUNCATE etl.segment_post_moves, etl.segment_post_days, etl.brand_post_days,
         mart.daily_kpis, mart.kpi_periods, mart.daily_kpis_segment, mart.daily_kpis_brand;
DELETE FROM etl.watermarks WHERE job IN ('daily_kpis', 'segment_kpis');
DELETE FROM etl.excluded_rows WHERE job IN ('daily_kpis', 'segment_kpis');
