-- `serve` runs as a member of gewebe_auth_serve, not as the schema's owner: it may append to the
-- audit log but not change, delete or truncate entries, not drop or disable the triggers (only an
-- owner may), and may move the head only one entry forward. Migrations keep running as the owner.
-- Production: `CREATE ROLE gewebe_auth_app LOGIN PASSWORD '…' IN ROLE gewebe_auth_serve;` and give
-- `serve` that role's credentials (runbooks/auth-security.md).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'gewebe_auth_serve') THEN
        CREATE ROLE gewebe_auth_serve NOLOGIN;
    END IF;
EXCEPTION
    -- Roles belong to the cluster: a concurrent migration of another database made it meanwhile.
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'the role gewebe_auth_serve is missing and % may not create roles', current_user
            USING HINT = 'as a superuser: CREATE ROLE gewebe_auth_serve NOLOGIN; then migrate again';
END
$$;

GRANT USAGE ON SCHEMA auth TO gewebe_auth_serve;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA auth TO gewebe_auth_serve;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA auth TO gewebe_auth_serve;
-- Tables added later by the owner (the outbox's migrator runs after these migrations).
ALTER DEFAULT PRIVILEGES IN SCHEMA auth GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gewebe_auth_serve;
ALTER DEFAULT PRIVILEGES IN SCHEMA auth GRANT USAGE, SELECT ON SEQUENCES TO gewebe_auth_serve;

REVOKE UPDATE, DELETE, TRUNCATE ON auth.audit_log FROM gewebe_auth_serve;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON auth._sqlx_migrations FROM gewebe_auth_serve;

-- The head moves one entry at a time, in step with the log: rewinding it (to hide entries after
-- it) or skipping ahead is refused for everyone but a superuser who disables the trigger.
CREATE FUNCTION auth.audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <> OLD.seq + 1 THEN
        RAISE EXCEPTION 'auth.audit_head only moves one entry forward' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON auth.audit_head
    FOR EACH ROW EXECUTE FUNCTION auth.audit_head_forward_only();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE OR TRUNCATE ON auth.audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION auth.audit_log_append_only();
