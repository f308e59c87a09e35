//! Where the watermark's time goes on one image: `cargo run --release -p proofmark-media --example
//! wm_stages FILE` prints decode, embed and extract times (median of 5, this thread only), and the time to
//! find no mark in the unmarked file (every search stage runs then).
use std::time::Instant;

use proofmark_media::watermark::{embed, extract, WatermarkKey};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: wm_stages FILE")?;
    let bytes = std::fs::read(&path)?;
    let t = Instant::now();
    let (img, _) = proofmark_media::decode_image(&bytes)?;
    println!("decode   {:8.1} ms  ({}x{})", t.elapsed().as_secs_f64() * 1e3, img.width, img.height);
    let key = WatermarkKey::from_bytes([9; 32]);
    let payload = [0x5a; 16];
    let (mut e, mut x) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let marked = embed(&img, &key, &payload)?.0;
        e.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let d = extract(&marked, &key);
        x.push(t.elapsed().as_secs_f64() * 1e3);
        if d.payload != Some(payload) {
            return Err("the mark did not read back".into());
        }
    }
    let mut u = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let d = extract(&img, &key);
        u.push(t.elapsed().as_secs_f64() * 1e3);
        if d.payload.is_some() {
            return Err("a mark was read from the unmarked file".into());
        }
    }
    println!("embed    {:8.1} ms\nextract  {:8.1} ms\nunmarked {:8.1} ms", median(e), median(x), median(u));
    Ok(())
}
