-- emergency_timers: tables of the emergency and timers change (empty until it lands).
SELECT 1;
