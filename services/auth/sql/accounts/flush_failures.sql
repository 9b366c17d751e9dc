-- SKIP LOCKED: instances flushing at once share the work instead of writing a window twice.
DELETE FROM auth.login_failures
 WHERE (account_id, window_start) IN (
           SELECT account_id, window_start
             FROM auth.login_failures
            WHERE window_start <= $1
            ORDER BY window_start
            LIMIT $2
              FOR UPDATE SKIP LOCKED
       )
RETURNING account_id, window_start, failures, locks
