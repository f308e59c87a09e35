//! The lattice shift search at its worst phase: `cargo run --release -p proofmark-media --example wm_shifts
//! DIR` marks every image in DIR and moves its content by shifts placed a sixth of a frame pixel off the
//! search's phase grid (its worst case on large images, whose phases are a third of a frame pixel apart),
//! alone, then with JPEG 60, then with brightness +20 % and JPEG 60. Per case it prints whether the payload
//! decoded and after how many decode attempts (1: the frame as it stands; 2: the search's first proposal).
//! The images the docs quote come from `scripts/make-12mp-photos.py ../shared/images DIR`.
use proofmark_media::attack::Attack;
use proofmark_media::watermark::{embed, extract, WatermarkKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: wm_shifts DIR")?;
    let key = WatermarkKey::from_bytes([9; 32]);
    let payload = [0x5a; 16];
    let mut names: Vec<_> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    let (mut found, mut first, mut total) = (0, 0, 0);
    for path in names {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Ok((img, _)) = proofmark_media::decode_image(&bytes) else { continue };
        let (marked, _) = embed(&img, &key, &payload)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy().to_string();
        // Frame pixels per image pixel on each axis; shifts of k + 1/6 frame pixels (k whole).
        let (fx, fy) = (img.width as f64 / 256.0, img.height as f64 / 256.0);
        let off = |f: f64, k: f64| (f * (k + k.signum() / 6.0)).round() as i64;
        for (kx, ky) in [(1.0, 1.0), (2.0, 0.0), (0.0, 3.0), (5.0, 2.0), (-3.0, -1.0)] {
            let (dx, dy) = (off(fx, kx), off(fy, ky));
            for rest in [vec![], vec![Attack::Jpeg(60)], vec![Attack::Brightness(1.2), Attack::Jpeg(60)]] {
                let attack = Attack::Chain(std::iter::once(Attack::Shift(dx, dy)).chain(rest).collect());
                let d = extract(&attack.apply(&marked)?, &key);
                let ok = d.payload == Some(payload);
                total += 1;
                found += usize::from(ok);
                first += usize::from(ok && d.attempts <= 2);
                println!(
                    "{name:<24} {:<40} {} after {} attempts",
                    attack.name(),
                    if ok { "found" } else { "MISSED" },
                    d.attempts
                );
            }
        }
    }
    println!("found {found}/{total}; {first} by the frame as it stands or the search's first proposal");
    Ok(())
}
