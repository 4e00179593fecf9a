-- retention: tables of the retention change (empty until it lands).
SELECT 1;
