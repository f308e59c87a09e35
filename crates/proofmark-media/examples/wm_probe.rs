//! Development probe: embed in every image given, run the attack suite, print per-attack results.
use proofmark_media::attack::{combined_attacks, single_attacks};
use proofmark_media::watermark::{embed, extract, WatermarkKey};

fn main() {
    let key = WatermarkKey::from_bytes([42; 32]);
    let payload = *b"0123456789abcdef";
    let files: Vec<String> = std::env::args().skip(1).collect();
    let mut attacks = single_attacks();
    attacks.extend(combined_attacks());
    let mut marked = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let (img, _) = proofmark_media::decode_image(&bytes).unwrap();
        let t = std::time::Instant::now();
        let (m, stats) = embed(&img, &key, &payload).unwrap();
        let te = t.elapsed();
        let t = std::time::Instant::now();
        let d = extract(&m, &key);
        println!("{f}: {}x{} psnr {:.2} embed {:?} extract {:?} ok={}", img.width, img.height, stats.psnr_y, te, t.elapsed(), d.payload == Some(payload));
        marked.push((f.clone(), m, img));
    }
    for a in &attacks {
        let mut ok = 0;
        let mut acc = 0.0;
        let mut fails = Vec::new();
        for (f, m, _) in &marked {
            let at = a.apply(m).unwrap();
            let d = extract(&at, &key);
            acc += d.raw_bit_accuracy(&key, &payload);
            if d.payload == Some(payload) {
                ok += 1;
            } else {
                let name = std::path::Path::new(f).file_name().unwrap().to_string_lossy().to_string();
                fails.push(format!("{name}({:.2})", d.raw_bit_accuracy(&key, &payload)));
            }
        }
        println!("{:40} {}/{} acc {:.3} {}", a.name(), ok, marked.len(), acc / marked.len() as f64, fails.join(" "));
    }
    let mut fp = 0;
    let mut n = 0;
    for (_, _, img) in &marked {
        for a in &attacks {
            let at = a.apply(img).unwrap();
            n += 1;
            if extract(&at, &key).payload.is_some() {
                fp += 1;
            }
        }
    }
    println!("false accepts {fp}/{n}");
}
