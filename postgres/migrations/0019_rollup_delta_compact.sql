-- 0019_rollup_delta_compact: a delta row leaves out what follows from its
-- other columns, so the rows every ingest transaction writes are narrower
-- (NULLs take a bit of the row's null bitmap, no bytes): <m>_n is NULL when
-- it equals count (every reading of the group had the metric), <m>_sum when
-- <m>_n is 0, and <m>_min and <m>_max when <m>_n is at most 1 (then both are
-- <m>_sum). Readers (the merge, the queries' unmerged part) take
-- coalesce(<m>_n, count), coalesce(sum(<m>_sum), 0) and
-- coalesce(<m>_min, <m>_sum). At 20,000 readings/s in POSTs of 100 most
-- groups hold one reading: their rows shrink from about 650 to about 220
-- bytes (docs/postgres.md "Rollups"). Rows written before keep every column
-- and read the same.
ALTER TABLE rollup_delta
    ALTER COLUMN acc_rms_x_n DROP NOT NULL, ALTER COLUMN acc_rms_x_sum DROP NOT NULL,
    ALTER COLUMN acc_rms_y_n DROP NOT NULL, ALTER COLUMN acc_rms_y_sum DROP NOT NULL,
    ALTER COLUMN acc_rms_z_n DROP NOT NULL, ALTER COLUMN acc_rms_z_sum DROP NOT NULL,
    ALTER COLUMN acc_peak_x_n DROP NOT NULL, ALTER COLUMN acc_peak_x_sum DROP NOT NULL,
    ALTER COLUMN acc_peak_y_n DROP NOT NULL, ALTER COLUMN acc_peak_y_sum DROP NOT NULL,
    ALTER COLUMN acc_peak_z_n DROP NOT NULL, ALTER COLUMN acc_peak_z_sum DROP NOT NULL,
    ALTER COLUMN vel_rms_x_n DROP NOT NULL, ALTER COLUMN vel_rms_x_sum DROP NOT NULL,
    ALTER COLUMN vel_rms_y_n DROP NOT NULL, ALTER COLUMN vel_rms_y_sum DROP NOT NULL,
    ALTER COLUMN vel_rms_z_n DROP NOT NULL, ALTER COLUMN vel_rms_z_sum DROP NOT NULL,
    ALTER COLUMN crest_x_n DROP NOT NULL, ALTER COLUMN crest_x_sum DROP NOT NULL,
    ALTER COLUMN crest_y_n DROP NOT NULL, ALTER COLUMN crest_y_sum DROP NOT NULL,
    ALTER COLUMN crest_z_n DROP NOT NULL, ALTER COLUMN crest_z_sum DROP NOT NULL,
    ALTER COLUMN kurtosis_x_n DROP NOT NULL, ALTER COLUMN kurtosis_x_sum DROP NOT NULL,
    ALTER COLUMN kurtosis_y_n DROP NOT NULL, ALTER COLUMN kurtosis_y_sum DROP NOT NULL,
    ALTER COLUMN kurtosis_z_n DROP NOT NULL, ALTER COLUMN kurtosis_z_sum DROP NOT NULL,
    ALTER COLUMN temp_c_n DROP NOT NULL, ALTER COLUMN temp_c_sum DROP NOT NULL,
    ALTER COLUMN battery_v_n DROP NOT NULL, ALTER COLUMN battery_v_sum DROP NOT NULL,
    ALTER COLUMN rssi_dbm_n DROP NOT NULL, ALTER COLUMN rssi_dbm_sum DROP NOT NULL;
