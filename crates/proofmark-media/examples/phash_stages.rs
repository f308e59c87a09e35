//! Where the time of one pHash goes: `cargo run --release -p proofmark-media --example phash_stages FILE`.
use std::time::Instant;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: phash_stages FILE");
        std::process::exit(2);
    };
    let bytes = std::fs::read(&path).expect("read");
    for _ in 0..3 {
        let t = Instant::now();
        let img = proofmark_media::decode_luma(&bytes).expect("decode");
        let decoded = t.elapsed();
        let t = Instant::now();
        let h = proofmark_media::phash_luma(&img);
        let stages = t.elapsed();
        let t = Instant::now();
        let whole = proofmark_media::phash(&bytes).expect("phash");
        assert_eq!(whole, h);
        println!(
            "{path}: decode+grey {:.2} ms, resize+DCT {:.2} ms ({h}); phash() whole {:.2} ms",
            decoded.as_secs_f64() * 1e3,
            stages.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}
