//! Per-connection subscriptions: topics, and an area as a bounding box or H3 cells of any resolution.

use h3o::CellIndex;
use uuid::Uuid;

use crate::{
    error::Error,
    event::{FeedEvent, TOPICS},
};
use gewebe_events::Visibility;

#[derive(Debug, Clone, PartialEq)]
pub enum Area {
    Everywhere,
    /// `min_lon`, `min_lat`, `max_lon`, `max_lat`
    Bbox([f64; 4]),
    Cells(Vec<CellIndex>),
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub topics: Vec<&'static str>,
    pub area: Area,
    /// The authenticated account, which alone sees its private events.
    pub account: Option<Uuid>,
}

impl Filter {
    pub fn parse(
        topics: Option<&str>,
        bbox: Option<&str>,
        cells: Option<&str>,
        max_cells: usize,
        account: Option<Uuid>,
    ) -> Result<Self, Error> {
        let topics = match topics {
            None => TOPICS.to_vec(),
            Some(raw) => raw
                .split(',')
                .map(|t| {
                    TOPICS
                        .iter()
                        .copied()
                        .find(|k| *k == t.trim())
                        .ok_or_else(|| {
                            Error::bad_request(
                                "invalid_topics",
                                format!("unknown topic {t:?}; topics are {}", TOPICS.join(", ")),
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let area = match (bbox, cells) {
            (Some(_), Some(_)) => {
                return Err(Error::bad_request(
                    "invalid_area",
                    "give bbox or cells, not both",
                ));
            }
            (Some(b), None) => Area::Bbox(parse_bbox(b)?),
            (None, Some(c)) => {
                let cells = c
                    .split(',')
                    .map(|c| {
                        c.trim().parse::<CellIndex>().map_err(|_| {
                            Error::bad_request(
                                "invalid_cells",
                                format!("{c:?} is not an H3 cell index"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if cells.is_empty() || cells.len() > max_cells {
                    return Err(Error::bad_request(
                        "invalid_cells",
                        format!("give 1 to {max_cells} cells"),
                    ));
                }
                Area::Cells(cells)
            }
            (None, None) => Area::Everywhere,
        };
        Ok(Self {
            topics,
            area,
            account,
        })
    }

    pub fn matches(&self, e: &FeedEvent) -> bool {
        if !self.topics.contains(&e.topic) {
            return false;
        }
        let visible = match e.visibility {
            Visibility::Public => true,
            Visibility::Private => self.account.is_some() && self.account == e.account,
            Visibility::Internal => false,
        };
        if !visible {
            return false;
        }
        // Events that are not on the map (an account's own settings) are not scoped by area.
        if e.points.is_empty() {
            return true;
        }
        match &self.area {
            Area::Everywhere => true,
            Area::Bbox([min_lon, min_lat, max_lon, max_lat]) => {
                e.points.iter().any(|((lat, lon), _)| {
                    (*min_lat..=*max_lat).contains(lat) && (*min_lon..=*max_lon).contains(lon)
                })
            }
            Area::Cells(cells) => e.points.iter().any(|(_, cell)| {
                cell.is_some_and(|c| {
                    cells
                        .iter()
                        .any(|area| c.parent(area.resolution()) == Some(*area))
                })
            }),
        }
    }

    /// The subjects to replay from JetStream for these topics (the stream holds them all).
    pub fn subjects(&self, prefix: &str) -> Vec<String> {
        self.topics
            .iter()
            .flat_map(|t| match *t {
                "nodes" => vec!["node"],
                "edges" => vec!["edge"],
                "account" => vec!["account"],
                _ => vec!["conversation", "message"],
            })
            .map(|domain| format!("{prefix}.{domain}.>"))
            .collect()
    }
}

fn parse_bbox(raw: &str) -> Result<[f64; 4], Error> {
    let bad = || {
        Error::bad_request(
            "invalid_bbox",
            "bbox is minLon,minLat,maxLon,maxLat with min below max, longitudes in -180..180 and latitudes in -90..90",
        )
    };
    let v: Vec<f64> = raw
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [min_lon, min_lat, max_lon, max_lat] = v[..] else {
        return Err(bad());
    };
    let lon = |x: f64| x.is_finite() && (-180.0..=180.0).contains(&x);
    let lat = |x: f64| x.is_finite() && (-90.0..=90.0).contains(&x);
    if !(lon(min_lon) && lon(max_lon) && lat(min_lat) && lat(max_lat))
        || min_lon >= max_lon
        || min_lat >= max_lat
    {
        return Err(bad());
    }
    Ok([min_lon, min_lat, max_lon, max_lat])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gewebe_events::{Envelope, Location, types::NodeCreated};

    fn node_at(lat: f64, lon: f64) -> FeedEvent {
        let id = Uuid::now_v7();
        let cell = h3o::LatLng::new(lat, lon)
            .unwrap()
            .to_cell(h3o::Resolution::Fifteen);
        let e = Envelope::new(
            "gewebe-geo",
            id,
            1,
            &NodeCreated {
                node_id: id,
                kind: "place".into(),
                title: "t".into(),
                location: Location { lat, lon },
                h3: cell.to_string(),
                owner: None,
            },
        )
        .unwrap()
        .with_location(Location { lat, lon }, Some(cell.to_string()))
        .with_actor(Uuid::now_v7());
        FeedEvent::from_message(7, &e.to_vec().unwrap()).unwrap()
    }

    #[test]
    fn areas_and_topics() {
        let e = node_at(52.52, 13.405);
        assert!(!e.data.contains("actor"), "{}", e.data);
        let f = |t: Option<&str>, b: Option<&str>, c: Option<&str>| Filter::parse(t, b, c, 4, None);
        assert!(f(None, None, None).unwrap().matches(&e));
        assert!(
            f(Some("nodes"), Some("13,52,14,53"), None)
                .unwrap()
                .matches(&e)
        );
        assert!(
            !f(Some("nodes"), Some("9,53,10,54"), None)
                .unwrap()
                .matches(&e)
        );
        assert!(!f(Some("edges"), None, None).unwrap().matches(&e));
        let cell = h3o::LatLng::new(52.52, 13.405)
            .unwrap()
            .to_cell(h3o::Resolution::Six);
        let other = h3o::LatLng::new(48.1, 11.5)
            .unwrap()
            .to_cell(h3o::Resolution::Six);
        assert!(f(None, None, Some(&cell.to_string())).unwrap().matches(&e));
        assert!(!f(None, None, Some(&other.to_string())).unwrap().matches(&e));
        for (t, b, c) in [
            (Some("weather"), None, None),
            (None, Some("1,2,3"), None),
            (None, Some("3,2,1,4"), None),
            (None, None, Some("nope")),
            (None, Some("1,2,3,4"), Some(&cell.to_string()[..])),
        ] {
            assert!(f(t, b, c).is_err(), "{t:?} {b:?} {c:?}");
        }
        let five = vec![cell.to_string(); 5].join(",");
        assert!(
            f(None, None, Some(&five)).is_err(),
            "more cells than allowed"
        );
    }
}
