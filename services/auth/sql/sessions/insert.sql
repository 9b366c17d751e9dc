INSERT INTO auth.sessions (id, account_id)
VALUES ($1, $2)
