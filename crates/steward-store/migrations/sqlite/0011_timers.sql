-- timers: tables of the timers change (empty until it lands).
SELECT 1;
