-- Conversations (Gesprächsräume): a node's room, a direct talk between two people, or a group.
CREATE TABLE chat.conversations (
    id               uuid        PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind IN ('node', 'direct', 'group')),
    -- A node has at most one room.
    node_id          uuid        UNIQUE,
    -- The two participants of a direct talk, smaller id first: one direct room per pair.
    direct_pair      uuid[]      UNIQUE,
    title            text,
    creator_id       uuid,
    -- The room's message sequence: the last `seq` handed out. Taken with the row locked, so seqs
    -- are gapless and commit in order.
    last_seq         bigint      NOT NULL DEFAULT 0,
    -- Every event about the room bumps it: the aggregate version of its outbox rows.
    version          bigint      NOT NULL DEFAULT 1,
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    -- Set when the node was deleted: the room stays readable but takes no new messages.
    archived_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'node') = (node_id IS NOT NULL)),
    CHECK ((kind = 'direct') = (direct_pair IS NOT NULL))
);

CREATE TABLE chat.members (
    conversation_id uuid        NOT NULL REFERENCES chat.conversations (id) ON DELETE CASCADE,
    account_id      uuid        NOT NULL,
    joined_at       timestamptz NOT NULL DEFAULT now(),
    -- The highest seq the member said they read (`read` frames).
    last_read_seq   bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, account_id)
);

-- "My conversations", most recent activity first.
CREATE INDEX members_account_idx ON chat.members (account_id);
CREATE INDEX conversations_activity_idx ON chat.conversations (last_activity_at DESC, id DESC);

CREATE TABLE chat.messages (
    id              uuid        PRIMARY KEY,
    conversation_id uuid        NOT NULL REFERENCES chat.conversations (id) ON DELETE CASCADE,
    seq             bigint      NOT NULL,
    -- NULL: the role-without-name placeholder (an author forgotten from a node room).
    author_id       uuid,
    -- The sender's id for this message: a retry with the same one returns the same message.
    client_msg_id   uuid        NOT NULL,
    -- NULL: a tombstone (deleted, or its author forgotten in a direct or group room).
    body            text,
    version         bigint      NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    edited_at       timestamptz,
    deleted_at      timestamptz,
    UNIQUE (conversation_id, seq),
    UNIQUE (author_id, client_msg_id)
);
