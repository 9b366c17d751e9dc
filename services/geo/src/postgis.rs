//! PostGIS is checked at start-up with a typed error (as martin's `pool.rs` does): tiles need
//! `ST_TileEnvelope` with a margin and `ST_AsMVT`, i.e. PostGIS 3.1 or newer.

use gewebe_platform::{db::Db, sql};

pub const MINIMUM: (u32, u32) = (3, 1);

#[derive(Debug, thiserror::Error)]
pub enum PostGisError {
    #[error(
        "PostGIS is not installed in this database; run `gewebe-geo migrate` (it creates the extension) or `CREATE EXTENSION postgis`"
    )]
    Missing,
    #[error("PostGIS {found} is too old; gewebe-geo needs {}.{} or newer", MINIMUM.0, MINIMUM.1)]
    TooOld { found: String },
    #[error("the database did not answer: {0}")]
    Unreachable(String),
}

/// The PostGIS library version, if it is new enough.
pub async fn check(db: &Db) -> Result<String, PostGisError> {
    let found = async {
        let mut tx = db.begin().await?;
        let v: Option<String> = sqlx::query_scalar(sql!("postgis_version"))
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(v)
    }
    .await
    .map_err(|e| PostGisError::Unreachable(gewebe_platform::db::describe(e)))?
    .ok_or(PostGisError::Missing)?;
    if new_enough(&found) {
        Ok(found)
    } else {
        Err(PostGisError::TooOld { found })
    }
}

fn new_enough(version: &str) -> bool {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= MINIMUM
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions() {
        assert!(super::new_enough("3.3.2"));
        assert!(super::new_enough("3.1.0"));
        assert!(super::new_enough("4.0.0alpha1"));
        assert!(!super::new_enough("3.0.7"));
        assert!(!super::new_enough("2.5.5"));
        assert!(!super::new_enough("garbage"));
    }
}
