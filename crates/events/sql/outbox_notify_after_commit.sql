-- The relay is woken after the commit (`Outbox::commit`), no longer by NOTIFY inside the writing
-- transaction: that took a cluster-wide lock at commit and held it across the WAL flush, so every
-- write with an event committed one at a time (crates/events/src/outbox.rs says more).
DROP TRIGGER outbox_notify ON __SCHEMA__.outbox;
DROP FUNCTION __SCHEMA__.outbox_notify();
