-- erasure: tables of the erasure change (empty until it lands).
SELECT 1;
