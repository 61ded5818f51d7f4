-- 0016_rollup_reordered_final: the month of rollup_1h being written is
-- rewritten in (device, hour) order once a day too, not only once after it
-- ended (ReorderRollups, docs/postgres.md "Rollup layout"). rollup_reordered
-- now holds a month's last rewrite (reordered_at, row_count), daily or
-- final; final marks the one after the month ended plus ReorderAfter, after
-- which the month is never rewritten again. Every row from before this
-- migration is such a final rewrite, and so is every row an older replica
-- still writes during an upgrade (it rewrites ended months only).
ALTER TABLE rollup_reordered ADD COLUMN final boolean NOT NULL DEFAULT true;
