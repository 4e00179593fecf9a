-- authorize: tables of the authorize change (empty until it lands).
SELECT 1;
