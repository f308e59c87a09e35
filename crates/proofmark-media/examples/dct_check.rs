//! Reads lines of 32 numbers from stdin, prints the DCT-II of each as f64 bit patterns (hex), one line each.
use std::io::BufRead;

fn main() {
    let dct = proofmark_media::dct::Dct32::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        let v: Vec<f64> = line.split_whitespace().map(|t| t.parse().expect("number")).collect();
        let x: [f64; 32] = v.try_into().expect("32 numbers");
        let y = dct.forward(&x);
        println!("{}", y.iter().map(|f| format!("{:016x}", f.to_bits())).collect::<Vec<_>>().join(" "));
    }
}
