use super::*;
use crate::attack::Attack;

/// A colour image with texture, edges and flat areas, deterministic.
pub(crate) fn synthetic(width: usize, height: usize, seed: u64) -> Image {
    let mut img = Image::new(width, height, 3);
    let mut x = seed | 1;
    for yy in 0..height {
        for xx in 0..width {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let noise = (x % 17) as f32 - 8.0;
            let base = 128.0 + 60.0 * ((xx as f32 / 23.0).sin() * (yy as f32 / 31.0).cos());
            let block = if (xx / 64 + yy / 48) % 2 == 0 { 30.0 } else { -30.0 };
            let v = base + block + noise;
            let i = (yy * width + xx) * 3;
            img.pixels[i] = (v + 10.0).clamp(0.0, 255.0) as u8;
            img.pixels[i + 1] = v.clamp(0.0, 255.0) as u8;
            img.pixels[i + 2] = (v - 20.0).clamp(0.0, 255.0) as u8;
        }
    }
    img
}

fn key(n: u8) -> WatermarkKey {
    WatermarkKey::from_bytes([n; 32])
}

const PAYLOAD: [u8; 16] = *b"proofmark-wm-128";

#[test]
fn round_trip_meets_psnr_and_reads_back() {
    let img = synthetic(400, 300, 7);
    let (marked, stats) = embed(&img, &key(1), &PAYLOAD).expect("embed");
    assert!(stats.psnr_y >= TARGET_PSNR, "{}", stats.psnr_y);
    // The PSNR embed reports (from its integer changes) is the one measured on the pixels.
    let measured = psnr_y(&img.luma_f32(), &marked);
    assert!((measured - stats.psnr_y).abs() < 0.01, "{measured} vs {}", stats.psnr_y);
    assert_eq!((marked.width, marked.height, marked.channels), (400, 300, 3));
    let d = extract(&marked, &key(1));
    assert_eq!(d.payload, Some(PAYLOAD));
    assert!(d.raw_bit_accuracy(&key(1), &PAYLOAD) > 0.99);
}

#[test]
fn wrong_key_and_unmarked_images_read_nothing() {
    let img = synthetic(400, 300, 9);
    let (marked, _) = embed(&img, &key(1), &PAYLOAD).expect("embed");
    assert_eq!(extract(&marked, &key(2)).payload, None);
    assert_eq!(extract(&img, &key(1)).payload, None);
}

/// On unmarked images no search proposal passes polishing's gate: the frame as it stands is the only
/// reading decoded (the 11 proposals stop after the coarse sweep), while marks found by the searches are
/// still read (`finds_crops_and_shifts_again`).
#[test]
fn unmarked_proposals_stop_at_the_polishing_gate() {
    for (w, h, seed) in [(400, 300, 9), (512, 384, 21), (1300, 900, 5)] {
        let img = synthetic(w, h, seed);
        for k in [1, 7] {
            let d = extract(&img, &key(k));
            assert_eq!((d.payload, d.attempts), (None, 1), "{w}x{h} seed {seed} key {k}");
        }
    }
}

#[test]
fn finds_crops_and_shifts_again() {
    use crate::attack::Side;
    let img = synthetic(512, 384, 13);
    let (marked, _) = embed(&img, &key(4), &PAYLOAD).expect("embed");
    for attack in [
        Attack::Shift(13, -5),
        Attack::Crop(Side::Left, 0.1),
        Attack::Crop(Side::Centre, 0.15),
        Attack::Chain(vec![Attack::Shift(-31, 17), Attack::Jpeg(75)]),
        Attack::Chain(vec![Attack::Crop(Side::Top, 0.1), Attack::Resize(0.8, 0.8), Attack::Jpeg(75)]),
    ] {
        let attacked = attack.apply(&marked).expect("attack");
        let d = extract(&attacked, &key(4));
        assert_eq!(d.payload, Some(PAYLOAD), "{}", attack.name());
    }
}

/// The benchmark's hardest combinations on a small image (451×300, like chelsea.png): after a crop, a
/// downscale and a lossy re-encode the lattice fit alone picked the wrong gain and the wrong kept fraction;
/// codeword agreement ranks them right, and the centre anchor is tried off the exact centre.
#[test]
fn finds_small_images_after_crop_downscale_and_lossy_codecs() {
    use crate::attack::Side;
    let img = synthetic(451, 300, 21);
    let (marked, _) = embed(&img, &key(6), &PAYLOAD).expect("embed");
    for attack in [
        Attack::Chain(vec![Attack::Crop(Side::Centre, 0.1), Attack::Resize(0.5, 0.5), Attack::Jpeg(75)]),
        Attack::Chain(vec![Attack::Crop(Side::Left, 0.1), Attack::Resize(0.5, 0.5), Attack::Jpeg(75)]),
        Attack::Chain(vec![Attack::Crop(Side::Bottom, 0.1), Attack::Resize(0.75, 0.75), Attack::WebP(75)]),
    ] {
        let attacked = attack.apply(&marked).expect("attack");
        assert_eq!(extract(&attacked, &key(6)).payload, Some(PAYLOAD), "{}", attack.name());
    }
}

#[test]
fn survives_codecs_resizes_and_gain() {
    let img = synthetic(640, 480, 11);
    let (marked, _) = embed(&img, &key(3), &PAYLOAD).expect("embed");
    for attack in [
        Attack::Jpeg(75),
        Attack::Chain(vec![Attack::Resize(0.5, 0.5), Attack::Jpeg(75)]),
        Attack::Resize(1.0, 0.8),
        Attack::Brightness(1.2),
        Attack::Contrast(0.8),
    ] {
        let attacked = attack.apply(&marked).expect("attack");
        assert_eq!(extract(&attacked, &key(3)).payload, Some(PAYLOAD), "{}", attack.name());
    }
}

#[test]
fn too_small_images_are_refused() {
    let img = synthetic(95, 300, 1);
    assert_eq!(
        embed(&img, &key(1), &PAYLOAD).map(|_| ()),
        Err(WatermarkError::TooSmall { width: 95, height: 300, min: MIN_SIDE })
    );
}

/// A clipped channel does not swallow the designed luma change: the other channels move further.
#[test]
fn apply_delivers_the_luma_change_on_saturated_colours() {
    let mut img = Image::new(5, 1, 3);
    let px: [[u8; 3]; 5] = [[255, 0, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [120, 130, 140]];
    for (i, p) in px.iter().enumerate() {
        img.pixels[i * 3..i * 3 + 3].copy_from_slice(p);
    }
    let delta = [-10.0, 12.0, 8.0, -8.0, 6.4];
    let (out, _) = apply(&img, &delta);
    let y = |p: &[u8]| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
    let moved: Vec<f64> = (0..5).map(|i| y(&out.pixels[i * 3..i * 3 + 3]) - y(&img.pixels[i * 3..i * 3 + 3])).collect();
    // Red darkened by 10 (R alone carries 0.299 of it: R drops ~33), blue brightened by 12 (G and R rise).
    assert!((moved[0] + 10.0).abs() <= 0.5, "{moved:?}");
    assert!((moved[1] - 12.0).abs() <= 0.5, "{moved:?}");
    // White cannot brighten, black cannot darken: nothing moves, and the search stops.
    assert_eq!((moved[2], moved[3]), (0.0, 0.0));
    // Unclipped pixels move by the rounded delta on every channel (chroma untouched).
    assert_eq!(&out.pixels[12..15], &[126, 136, 146]);
}

/// Images built to be hard for the quality floor and the read-back: flat colour (no texture to hide in),
/// a text scan (black on white, clipping at both ends), pure noise, the smallest allowed side and a large
/// frame. Each either meets the floor, with the PSNR the pixels really have, and reads back within 12 CRC
/// checks, or is refused with the typed error: never an image under 40 dB.
#[test]
fn hard_images_meet_the_floor_or_are_refused() {
    let flat = |w: usize, h: usize, v: u8| Image { width: w, height: h, channels: 3, pixels: vec![v; w * h * 3] };
    let text = {
        let (w, h) = (640, 480);
        let mut img = flat(w, h, 255);
        for y in 0..h {
            for x in 0..w {
                // Lines of "glyphs": short dark strokes on white, like a scanned page.
                let ink = (y % 24) < 14 && (y % 24) > 2 && ((x / 3 + y / 24) % 5 < 2) && (x % 80) < 70;
                if ink {
                    let i = (y * w + x) * 3;
                    img.pixels[i..i + 3].copy_from_slice(&[0, 0, 0]);
                }
            }
        }
        img
    };
    let noise = {
        let (w, h) = (300, 300);
        let mut img = flat(w, h, 0);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for p in img.pixels.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *p = (x >> 56) as u8;
        }
        img
    };
    let cases: Vec<(&str, Image)> = vec![
        ("flat grey", flat(400, 300, 128)),
        ("flat white", flat(400, 300, 255)),
        ("flat black", flat(400, 300, 0)),
        ("text scan", text),
        ("noise", noise),
        ("smallest", synthetic(MIN_SIDE, MIN_SIDE, 3)),
        ("thin", synthetic(MIN_SIDE, 1200, 5)),
        ("large", synthetic(4000, 3000, 11)),
    ];
    for (name, img) in cases {
        match embed(&img, &key(6), &PAYLOAD) {
            Ok((marked, stats)) => {
                let measured = psnr_y(&img.luma_f32(), &marked);
                assert!(measured >= TARGET_PSNR, "{name}: {measured} dB written");
                assert!(
                    (measured - stats.psnr_y).abs() < 0.01 || measured.is_infinite(),
                    "{name}: {measured} vs {}",
                    stats.psnr_y
                );
                let d = extract(&marked, &key(6));
                assert!(d.attempts <= 12, "{name}: {} CRC checks", d.attempts);
                if name == "flat white" || name == "flat black" {
                    // Nothing to modulate in a flat image that clips (white, black): reading nothing is
                    // allowed, reading a wrong payload never is.
                    assert!(d.payload.is_none() || d.payload == Some(PAYLOAD), "{name}");
                } else {
                    assert_eq!(d.payload, Some(PAYLOAD), "{name}: the mark reads back");
                }
            }
            // Only the images that clip at both ends may be refused; the others must be marked.
            Err(WatermarkError::QualityFloor { psnr_y, floor }) if name == "flat white" || name == "flat black" => {
                assert!(psnr_y < floor, "{name}: refused at {psnr_y} dB");
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

/// However an unmarked or damaged image looks, the extractor checks at most 12 CRCs.
#[test]
fn at_most_twelve_crc_checks_per_image() {
    let img = synthetic(512, 384, 21);
    let (marked, _) = embed(&img, &key(7), &PAYLOAD).expect("embed");
    for (name, probe) in [
        ("unmarked", img.clone()),
        ("other key", marked.clone()),
        ("cropped", Attack::Crop(crate::attack::Side::Centre, 0.3).apply(&marked).unwrap()),
        ("jpeg 30", Attack::Jpeg(30).apply(&marked).unwrap()),
        ("shrunk", Attack::Resize(0.4, 0.4).apply(&marked).unwrap()),
    ] {
        let k = if name == "other key" { key(8) } else { key(7) };
        let d = extract(&probe, &k);
        assert!(d.attempts <= 12, "{name}: {} CRC checks", d.attempts);
        assert!(d.payload.is_none() || d.payload == Some(PAYLOAD), "{name}: a wrong payload");
    }
}

/// The floor is enforced on what the retries reach, not assumed: held to 50 dB with a single design, the real
/// loop lands just under (49.90 dB on this image) and refuses with the typed error; a second design makes it.
#[test]
fn running_out_of_designs_under_the_floor_is_refused() {
    let img = synthetic(300, 200, 17);
    match embed_with_floor(&img, &key(9), &PAYLOAD, 50.0, 1) {
        Err(WatermarkError::QualityFloor { psnr_y, floor }) => {
            assert_eq!(floor, 50.0);
            assert!(psnr_y > 49.0 && psnr_y < 50.0, "{psnr_y}");
        }
        other => panic!("{other:?}"),
    }
    let (marked, stats) = embed_with_floor(&img, &key(9), &PAYLOAD, 50.0, 2).expect("a second design");
    assert!(stats.psnr_y >= 50.0 && psnr_y(&img.luma_f32(), &marked) >= 50.0);
    let e = WatermarkError::QualityFloor { psnr_y: 39.5, floor: 40.0 };
    assert_eq!(e.to_string(), "the marked image would have PSNR(Y) 39.50 dB, under the 40 dB floor; not marked");
}

#[test]
fn shared_resampling_passes_read_the_same_chips() {
    let img = synthetic(1500, 900, 17);
    let inter = frame_and_intermediate(&img).1;
    let base = AxisSync { scale: 0.91, offset: 11.3 };
    let axes = [AxisSync { scale: 1.0, offset: 0.0 }, base, AxisSync { scale: 0.83, offset: 40.75 }];
    let means = |chips: &[ChipReading]| chips.iter().map(|c| (c.chip, c.mean)).collect::<Vec<_>>();
    // x shared (its horizontal pass made once): the very same readings.
    let shared = along(&inter, Shared::X(base), &axes, false, |y, chips| (y, means(&chips)));
    for (y, got) in shared {
        assert_eq!(got, means(&aligned_chips(&inter, Alignment { x: base, y, score: 0.0 })), "{y:?}");
    }
    // y shared (the vertical pass first): the same resampling, rounded in another order.
    let shared = along(&inter, Shared::Y(base), &axes, true, |x, chips| (x, means(&chips)));
    for (x, got) in shared {
        let want = means(&aligned_chips(&inter, Alignment { x, y: base, score: 0.0 }));
        assert_eq!(got.len(), want.len(), "{x:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.0 == w.0 && (g.1 - w.1).abs() < 1e-3, "{x:?}: {g:?} vs {w:?}");
        }
    }
}

#[test]
fn centre_nudges_only_where_half_a_pixel_matters() {
    let count = |w: usize, h: usize| anchored_groups((w, h)).iter().map(|g| g.1.len()).sum::<usize>();
    let (small, wide, large) = (count(600, 400), count(2000, 400), count(4000, 3000));
    // Per kept fraction: 6 edge anchors, then centre anchors (x only, y only, both) with 3 nudges on each
    // axis under NUDGE_BELOW pixels.
    let scales = small / 21;
    assert_eq!(small, scales * (6 + 3 + 3 + 9));
    assert_eq!(wide, scales * (6 + 1 + 3 + 3));
    assert_eq!(large, scales * (6 + 1 + 1 + 1));
    assert!(scales > 50, "{scales}");
}
