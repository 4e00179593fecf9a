-- notifications: tables of the notifications change (empty until it lands).
SELECT 1;
