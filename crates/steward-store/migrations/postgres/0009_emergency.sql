-- emergency: tables of the emergency change (empty until it lands).
SELECT 1;
