use proofmark_media::attack::{Attack, Side};
use proofmark_media::watermark::{embed, extract, WatermarkKey};
fn main() {
    let key = WatermarkKey::from_bytes([42; 32]);
    let payload = *b"0123456789abcdef";
    let f = std::env::args().nth(1).unwrap();
    let (img, _) = proofmark_media::decode_image(&std::fs::read(&f).unwrap()).unwrap();
    let (m, _) = embed(&img, &key, &payload).unwrap();
    let a = if std::env::var("NOATTACK").is_ok() { Attack::Png.apply(&m).unwrap() } else { Attack::Crop(Side::Left, 0.1).apply(&m).unwrap() };
    let d = extract(&a, &key);
    println!("ok={} {:?}", d.payload == Some(payload), d.sync);
}
