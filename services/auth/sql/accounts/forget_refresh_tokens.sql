DELETE FROM auth.refresh_tokens
 WHERE session_id IN (
           SELECT id
             FROM auth.sessions
            WHERE account_id = $1
       )
