-- Accounts that were forgotten (`account.forgotten`). Their access tokens stay valid for up to their
-- lifetime, so every way into a room (creating one, joining, being added) is refused for them:
-- nothing they do after the forget may write their id into chat again.
CREATE TABLE chat.forgotten_accounts (
    account_id   uuid        PRIMARY KEY,
    forgotten_at timestamptz NOT NULL DEFAULT now()
);
