//! Where the watermark's crop/shift synchronisation fails: `cargo run --release -p proofmark-media --example
//! wm_sync DIR` marks every image in DIR, applies the geometric attacks (alone and in the benchmark's
//! combinations), and prints, per case, the true alignment, the one the detector used, and the raw bit
//! accuracy at each (and whether the payload decodes there). Besides the benchmark's crops, shifts and
//! combinations it tries four crops anchored nowhere, which only the pilot search can find.
//! `ONLY=name,attack` restricts the cases; `PILOT=1` also prints the pilot's z-score at the true alignment
//! and the truth's rank among its proposals.
use proofmark_media::attack::{combined_attacks, single_attacks, Attack, Side};
use proofmark_media::watermark::{
    embed, extract, pilot_candidates, pilot_z, read_at, Alignment, AxisSync, WatermarkKey,
};
use proofmark_media::Image;

/// Per axis, original pixel = s·attacked pixel + t, composed through the chain.
fn geometry(attack: &Attack, img: &Image, acc: &mut [(f64, f64); 2]) -> Image {
    let out = attack.apply(img).expect("attack");
    let (w0, h0, w1, h1) = (img.width as f64, img.height as f64, out.width as f64, out.height as f64);
    let mut compose = |axis: usize, s: f64, t: f64| {
        // prev = s·cur + t; orig = S·prev + T → orig = S·s·cur + S·t + T.
        let (big_s, big_t) = acc[axis];
        acc[axis] = (big_s * s, big_s * t + big_t);
    };
    match attack {
        Attack::Resize(..) => {
            compose(0, w0 / w1, 0.0);
            compose(1, h0 / h1, 0.0);
        }
        Attack::Crop(side, f) => {
            let dw = (w0 * f).round();
            let dh = (h0 * f).round();
            let (x0, y0) = match side {
                Side::Left => (dw, 0.0),
                Side::Top => (0.0, dh),
                Side::Centre => ((dw / 2.0).floor(), (dh / 2.0).floor()),
                _ => (0.0, 0.0),
            };
            compose(0, 1.0, x0);
            compose(1, 1.0, y0);
        }
        Attack::Shift(dx, dy) => {
            compose(0, 1.0, -(*dx as f64));
            compose(1, 1.0, -(*dy as f64));
        }
        Attack::Chain(parts) => {
            let mut cur = img.clone();
            for p in parts {
                cur = geometry(p, &cur, acc);
            }
            return cur;
        }
        _ => {}
    }
    out
}

/// Crops that keep no edge, corner or centre in place, or a corner by different fractions per axis: only the
/// pilot search (the detector's last step) finds these, and the benchmark's attack list has none.
fn anchored_nowhere() -> Vec<Attack> {
    use Attack::{Chain, Crop, Jpeg};
    vec![
        Chain(vec![Crop(Side::Left, 0.07), Crop(Side::Right, 0.04)]),
        Chain(vec![Crop(Side::Left, 0.05), Crop(Side::Bottom, 0.12)]),
        Chain(vec![Crop(Side::Left, 0.06), Crop(Side::Top, 0.04), Crop(Side::Right, 0.03), Crop(Side::Bottom, 0.08)]),
        Chain(vec![Crop(Side::Top, 0.09), Crop(Side::Right, 0.06), Crop(Side::Bottom, 0.02), Jpeg(80)]),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: wm_sync DIR")?;
    let key = WatermarkKey::from_bytes([9; 32]);
    let payload = [0x5a; 16];
    let mut names: Vec<_> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    let attacks: Vec<Attack> = single_attacks()
        .into_iter()
        .filter(|a| matches!(a, Attack::Crop(..) | Attack::Shift(..) | Attack::WebP(_)))
        .chain(combined_attacks())
        .chain(anchored_nowhere())
        .collect();
    let (mut ok, mut ok_true, mut total) = (0, 0, 0);
    for path in names {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Ok((img, _)) = proofmark_media::decode_image(&bytes) else { continue };
        let (marked, _) = embed(&img, &key, &payload)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy().to_string();
        for attack in &attacks {
            let case = format!("{name} {}", attack.name());
            if std::env::var("ONLY").is_ok_and(|f| !f.split(',').any(|f| case.contains(f))) {
                continue;
            }
            let mut acc = [(1.0, 0.0); 2];
            let attacked = geometry(attack, &marked, &mut acc);
            let n = 256.0;
            let truth = Alignment {
                x: AxisSync {
                    scale: (acc[0].0 * attacked.width as f64 / img.width as f64) as f32,
                    offset: (acc[0].1 * n / img.width as f64) as f32,
                },
                y: AxisSync {
                    scale: (acc[1].0 * attacked.height as f64 / img.height as f64) as f32,
                    offset: (acc[1].1 * n / img.height as f64) as f32,
                },
                score: 0.0,
            };
            let pilot = std::env::var_os("PILOT").is_some();
            let cands = if pilot { pilot_candidates(&attacked, &key, 300) } else { Vec::new() };
            let near = |s: AxisSync, t: AxisSync| {
                let off = (s.offset - t.offset).rem_euclid(128.0);
                (s.scale - t.scale).abs() < 0.012 && off.min(128.0 - off) < 3.0
            };
            let rank = cands.iter().position(|c| near(c.x, truth.x) && near(c.y, truth.y));
            print!(
                "z {:5.1} rank {:>4} ",
                if pilot { pilot_z(&attacked, &key, truth) } else { 0.0 },
                rank.map_or("-".into(), |r| r.to_string())
            );
            let t0 = std::time::Instant::now();
            let d = extract(&attacked, &key);
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let at_truth = read_at(&attacked, &key, truth, false);
            let polished = read_at(&attacked, &key, truth, true);
            total += 1;
            ok += usize::from(d.payload == Some(payload));
            ok_true += usize::from(polished.payload == Some(payload) || at_truth.payload == Some(payload));
            let fmt = |a: Option<Alignment>| {
                a.map_or("-".into(), |a| {
                    format!("x {:.4}/{:6.2} y {:.4}/{:6.2}", a.x.scale, a.x.offset, a.y.scale, a.y.offset)
                })
            };
            println!(
                "{name:22} {:42} found {} {:5.1}% ({} tries, {ms:4.0} ms) | truth {} {:5.1}% {} | polished {:5.1}% {} {}",
                attack.name(),
                if d.payload == Some(payload) { "OK " } else { "BAD" },
                100.0 * d.raw_bit_accuracy(&key, &payload),
                d.attempts,
                fmt(Some(truth)),
                100.0 * at_truth.raw_bit_accuracy(&key, &payload),
                if at_truth.payload == Some(payload) { "ok" } else { "--" },
                100.0 * polished.raw_bit_accuracy(&key, &payload),
                if polished.payload == Some(payload) { "ok" } else { "--" },
                fmt(d.sync),
            );
        }
    }
    println!("found {ok}/{total}; decodable at the true alignment {ok_true}/{total}");
    Ok(())
}
