-- 0017_claim_check: the ingest transaction sends its COMMIT in the same
-- round trip as its claim of the seen bitmaps (docs/postgres.md "Ingest"),
-- so a claim that lost readings to a concurrent transaction must stop the
-- transaction in SQL rather than in Go: vibemon_claimed raises VMCL1 when
-- fewer bitmap rows were claimed than the batch needed; PostgreSQL then
-- skips the rest of the round trip, COMMIT included, and the store rolls
-- back and runs the transaction again.
CREATE FUNCTION vibemon_claimed(got bigint, want bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    IF got <> want THEN
        RAISE EXCEPTION 'a concurrent transaction claimed % of % seen-bitmap rows first', want - got, want
            USING ERRCODE = 'VMCL1';
    END IF;
    RETURN got;
END
$$;
