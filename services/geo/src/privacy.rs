//! Location privacy for `home` nodes (the seed's ADR: transparency by default, opt-in privacy).
//!
//! The public position of a `home` node lies at a distance between half the owner's fuzz radius and
//! the radius, in a direction, both taken from HMAC-SHA256(`GEO_FUZZ_KEY`, node id, radius):
//! - deterministic: every answer, tile, event and search index shows the same point, so averaging
//!   many answers reveals nothing (a fresh random point per request would average out to the truth);
//! - keyed: without the key, the offset cannot be recomputed from the public node id;
//! - per radius: a new radius gives an independent point. If the offset were only scaled, two radii
//!   would put the true position on the line through both public points, at a known ratio;
//! - moving the home keeps the same offset, so a move reveals the move and nothing else;
//! - never closer than half the radius, so an unlucky draw cannot publish (almost) the true point.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use uuid::Uuid;

/// Mean Earth radius (m), the sphere PostGIS' `<->` on geography also measures on.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The public position of a node at (`lat`, `lon`) whose owner's fuzz radius is `radius_m`.
/// Radius 0 (the default) publishes the position as it is.
pub fn public_position(
    key: &SecretBox<[u8; 32]>,
    node_id: Uuid,
    radius_m: u32,
    lat: f64,
    lon: f64,
) -> (f64, f64) {
    if radius_m == 0 {
        return (lat, lon);
    }
    let (u1, u2) = draws(key, node_id, radius_m);
    let r = f64::from(radius_m);
    // Uniform over the annulus [r/2, r]: the square root keeps the density even per area.
    let distance = r * (0.25 + 0.75 * u1).sqrt();
    let bearing = std::f64::consts::TAU * u2;
    offset(lat, lon, distance, bearing)
}

/// Two numbers in [0, 1) from the keyed hash.
fn draws(key: &SecretBox<[u8; 32]>, node_id: Uuid, radius_m: u32) -> (f64, f64) {
    // HMAC zero-pads a key shorter than the hash's block, so keying with the 32 bytes padded to a
    // block is the same MAC, through the infallible constructor.
    let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
    block[..32].copy_from_slice(key.expose_secret());
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block);
    mac.update(b"gewebe-geo home fuzz v1");
    mac.update(node_id.as_bytes());
    mac.update(&radius_m.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let unit = |bytes: &[u8]| {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(bytes);
        // The top 53 bits make an exactly representable fraction in [0, 1).
        (u64::from_be_bytes(raw) >> 11) as f64 / (1u64 << 53) as f64
    };
    (unit(&digest[0..8]), unit(&digest[8..16]))
}

/// The point `distance` metres from (`lat`, `lon`) in direction `bearing` (radians from north), on
/// the sphere; exact enough for 5 km, and clamped/wrapped into WGS84's range.
fn offset(lat: f64, lon: f64, distance: f64, bearing: f64) -> (f64, f64) {
    let (phi1, lambda1) = (lat.to_radians(), lon.to_radians());
    let delta = distance / EARTH_RADIUS_M;
    let phi2 = (phi1.sin() * delta.cos() + phi1.cos() * delta.sin() * bearing.cos())
        .clamp(-1.0, 1.0)
        .asin();
    let lambda2 = lambda1
        + (bearing.sin() * delta.sin() * phi1.cos()).atan2(delta.cos() - phi1.sin() * phi2.sin());
    let lat2 = phi2.to_degrees().clamp(-90.0, 90.0);
    let mut lon2 = lambda2.to_degrees();
    if lon2 > 180.0 {
        lon2 -= 360.0;
    } else if lon2 < -180.0 {
        lon2 += 360.0;
    }
    (lat2, lon2)
}

/// Great-circle distance in metres (haversine), for tests and checks.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let dp = p2 - p1;
    let dl = (b.1 - a.1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SecretBox<[u8; 32]> {
        SecretBox::new(Box::new([b; 32]))
    }

    #[test]
    fn stays_within_the_annulus_and_is_deterministic() {
        let k = key(7);
        for i in 0..2000u32 {
            let id = Uuid::now_v7();
            let radius = 1 + (i * 37) % 5000;
            let (lat, lon) = (52.52, 13.405);
            let p = public_position(&k, id, radius, lat, lon);
            let d = distance_m((lat, lon), p);
            let r = f64::from(radius);
            assert!(d <= r + 0.01 && d >= r / 2.0 - 0.01, "{d} for radius {r}");
            assert_eq!(p, public_position(&k, id, radius, lat, lon));
        }
    }

    #[test]
    fn key_and_radius_give_independent_points() {
        let id = Uuid::now_v7();
        let a = public_position(&key(1), id, 1000, 48.0, 11.0);
        let b = public_position(&key(2), id, 1000, 48.0, 11.0);
        assert!(distance_m(a, b) > 1.0);
        // Not the same direction scaled: the bearing from the truth differs.
        let c = public_position(&key(1), id, 2000, 48.0, 11.0);
        let bearing = |p: (f64, f64)| (p.1 - 11.0).atan2(p.0 - 48.0);
        assert!((bearing(a) - bearing(c)).abs() > 1e-6);
        assert_eq!(public_position(&key(1), id, 0, 48.0, 11.0), (48.0, 11.0));
    }

    #[test]
    fn near_the_poles_and_the_antimeridian_stays_valid() {
        let k = key(3);
        for (lat, lon) in [(89.999, 0.0), (-90.0, 10.0), (0.0, 179.999), (10.0, -180.0)] {
            for _ in 0..200 {
                let (la, lo) = public_position(&k, Uuid::now_v7(), 5000, lat, lon);
                assert!((-90.0..=90.0).contains(&la) && (-180.0..=180.0).contains(&lo));
            }
        }
    }
}
