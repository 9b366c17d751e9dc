//! The fleet's SQL convention: every file under `sql/` prepares against the migrated schema (with
//! no parameter types given, so each placeholder's type must follow from the statement), every
//! file is used in `src/`, and `src/` writes no query inline.

use std::path::Path;

#[tokio::test]
async fn every_query_lives_in_a_sql_file_that_prepares_against_the_schema() {
    let migrators = gewebe_auth::migrators().unwrap();
    let db = gewebe_testkit::database(&migrators.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    gewebe_testkit::sql::assert_sql_convention(
        &db.direct_url,
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[],
    )
    .await;
}
