//! Input checks shared by the feature modules. Each collects every problem of a request into field
//! errors, so a client fixes a form in one round trip.

use gewebe_platform::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::Error;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 5_000;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 40;
pub const MAX_LIMIT: i64 = 500;
pub const DEFAULT_LIMIT: i64 = 100;
/// Larger areas are for vector tiles, not lists: 100 square degrees is about 1,000 km × 700 km in
/// central Europe.
pub const MAX_BBOX_SQUARE_DEGREES: f64 = 100.0;
pub const MAX_RADIUS_M: f64 = 50_000.0;

/// WGS84 position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LatLon {
    /// Latitude, −90 to 90.
    pub lat: f64,
    /// Longitude, −180 to 180.
    pub lon: f64,
}

pub fn location(field: &str, p: LatLon, errors: &mut Vec<FieldError>) {
    if !(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat)) {
        errors.push(FieldError::new(
            format!("{field}.lat"),
            "out_of_range",
            "latitude must be between -90 and 90",
        ));
    }
    if !(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon)) {
        errors.push(FieldError::new(
            format!("{field}.lon"),
            "out_of_range",
            "longitude must be between -180 and 180",
        ));
    }
}

/// Trimmed; 1–200 characters; no control characters (they break every list a title shows up in).
pub fn title(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let t = raw.trim();
    let n = t.chars().count();
    if n == 0 || n > MAX_TITLE_CHARS {
        errors.push(FieldError::new(
            "title",
            "length",
            format!("must be 1 to {MAX_TITLE_CHARS} characters"),
        ));
    } else if t.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "title",
            "control_characters",
            "must not contain control characters",
        ));
    }
    t.to_owned()
}

/// Trimmed; at most 5,000 characters; empty means none.
pub fn description(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let d = raw.trim();
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.push(FieldError::new(
            "description",
            "length",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    (!d.is_empty()).then(|| d.to_owned())
}

/// Trimmed and lower-cased, duplicates dropped, order kept; ≤ 20 tags of 1–40 characters.
pub fn tags(raw: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, tag) in raw.iter().enumerate() {
        let t = tag.trim().to_lowercase();
        let n = t.chars().count();
        if n == 0 || n > MAX_TAG_CHARS || t.chars().any(char::is_control) {
            errors.push(FieldError::new(
                format!("tags[{i}]"),
                "invalid_tag",
                format!("a tag is 1 to {MAX_TAG_CHARS} characters without control characters"),
            ));
        } else if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        errors.push(FieldError::new(
            "tags",
            "too_many",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    out
}

pub fn finish(errors: Vec<FieldError>) -> Result<(), Error> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// `limit` of a list: 1–500, default 100. Out of range is a 400 like any other bad query value.
pub fn limit(raw: Option<i64>) -> Result<i64, Error> {
    let l = raw.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&l) {
        Ok(l)
    } else {
        Err(Error::bad_request(
            "invalid_limit",
            format!("limit must be 1 to {MAX_LIMIT}"),
        ))
    }
}

/// A bounding box `minLon,minLat,maxLon,maxLat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl Bbox {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let bad = |detail: String| Error::bad_request("invalid_bbox", detail);
        let parts: Vec<f64> = raw
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("bbox must be four numbers: minLon,minLat,maxLon,maxLat".into()))?;
        let [min_lon, min_lat, max_lon, max_lat] = parts[..] else {
            return Err(bad(
                "bbox must be four numbers: minLon,minLat,maxLon,maxLat".into(),
            ));
        };
        let lon_ok = |v: f64| v.is_finite() && (-180.0..=180.0).contains(&v);
        let lat_ok = |v: f64| v.is_finite() && (-90.0..=90.0).contains(&v);
        if !(lon_ok(min_lon) && lon_ok(max_lon) && lat_ok(min_lat) && lat_ok(max_lat)) {
            return Err(bad(
                "longitudes must lie in -180..180 and latitudes in -90..90".into(),
            ));
        }
        if min_lon >= max_lon || min_lat >= max_lat {
            return Err(bad("minLon must be below maxLon and minLat below maxLat (a box across the antimeridian is two requests)".into()));
        }
        let area = (max_lon - min_lon) * (max_lat - min_lat);
        if area > MAX_BBOX_SQUARE_DEGREES {
            return Err(bad(format!(
                "the box covers {area:.1} square degrees; at most {MAX_BBOX_SQUARE_DEGREES} (use vector tiles for larger areas)"
            )));
        }
        Ok(Self {
            min_lon,
            min_lat,
            max_lon,
            max_lat,
        })
    }
}

/// `?limit=&cursor=` shared by every list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Page {
    /// 1–500 (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbox_rules() {
        assert!(Bbox::parse("13.3,52.4,13.5,52.6").is_ok());
        for bad in [
            "",
            "1,2,3",
            "1,2,3,4,5",
            "a,b,c,d",
            "13.5,52.4,13.3,52.6",
            "13.3,52.6,13.5,52.4",
            "1,1,1,2",
            "-181,0,0,1",
            "0,-91,1,0",
            "0,0,20,20",
            "NaN,0,1,1",
            "inf,0,1,1",
        ] {
            assert!(Bbox::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags_are_normalised() {
        let mut errors = Vec::new();
        let t = tags(
            &[" Garten ".into(), "garten".into(), "Obst".into()],
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(t, ["garten", "obst"]);
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        tags(&many, &mut errors);
        assert_eq!(errors.len(), 1);
        tags(&["x".repeat(41), String::new()], &mut errors);
        assert_eq!(errors.len(), 3);
    }

    #[test]
    fn title_and_limits() {
        let mut errors = Vec::new();
        assert_eq!(title("  Hof  ", &mut errors), "Hof");
        title("", &mut errors);
        title(&"x".repeat(201), &mut errors);
        title("a\u{0007}b", &mut errors);
        assert_eq!(errors.len(), 3);
        assert!(limit(Some(0)).is_err() && limit(Some(501)).is_err());
        assert_eq!(limit(None).ok(), Some(100));
    }
}
