-- The logistics desk's directory (issue 20, console/logistics/carriers.py): a carrier stops
-- serving a lane without the row going (no login role deletes in lgx, migration 104's rule):
-- the lane is marked inactive, kept for the history of what was quoted on it, and taken up
-- again by setting it active.
ALTER TABLE lgx.carrier_lanes ADD COLUMN active boolean NOT NULL DEFAULT true;
DROP INDEX lgx.carrier_lanes_lane_idx;
CREATE INDEX carrier_lanes_lane_idx ON lgx.carrier_lanes (from_province, to_province)
    WHERE active;

-- A lane's recent quotes (the price check: the lane's median per car over the last days),
-- read by recording time.
CREATE INDEX quotes_recorded_idx ON lgx.quotes (recorded_at);
