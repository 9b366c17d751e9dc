//! The SQL convention: every file in `sql/` prepares against the migrated schema and is used, and
//! no query is written inline.

#[tokio::test]
async fn every_query_prepares_against_the_migrated_schema() {
    let migrators = gewebe_chat::migrators().unwrap();
    let db = gewebe_testkit::database(&migrators.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    gewebe_testkit::sql::assert_sql_convention(&db.direct_url, crate_dir, &[]).await;
}
