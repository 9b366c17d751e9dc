SELECT EXISTS (SELECT 1 FROM chat.forgotten_accounts WHERE account_id = $1)
