//! The SQL convention: every file in `sql/` prepares against a migrated outbox schema and is used,
//! and no query is written inline.

#[tokio::test]
async fn every_query_prepares_against_a_migrated_outbox() {
    let env = crate::env().await;
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    gewebe_testkit::sql::assert_sql_convention(
        &env.db.direct_url,
        crate_dir,
        &[("__SCHEMA__", crate::SCHEMA)],
    )
    .await;
}
