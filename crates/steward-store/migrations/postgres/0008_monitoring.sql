-- monitoring: tables of the monitoring change (empty until it lands).
SELECT 1;
