//! Big-endian unsigned integers to decimal text (for the SignedShot `kid`, SPEC §1.3).

/// Decimal representation of a big-endian unsigned integer of any length.
pub(crate) fn be_bytes_to_decimal(bytes: &[u8]) -> String {
    // Repeated division by 10^9 over base-256 digits; fine for 32-byte coordinates.
    let mut num: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if num.is_empty() {
        return "0".to_owned();
    }
    let mut chunks: Vec<u32> = Vec::new();
    while !num.is_empty() {
        let mut rem: u64 = 0;
        let mut quotient = Vec::with_capacity(num.len());
        for &b in &num {
            let cur = (rem << 8) | u64::from(b);
            let q = cur / 1_000_000_000;
            rem = cur % 1_000_000_000;
            if !(quotient.is_empty() && q == 0) {
                quotient.push(q as u8);
            }
        }
        chunks.push(rem as u32);
        num = quotient;
    }
    let mut out = String::new();
    for (i, chunk) in chunks.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&chunk.to_string());
        } else {
            out.push_str(&format!("{chunk:09}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::be_bytes_to_decimal;

    #[test]
    fn small_and_large_values() {
        assert_eq!(be_bytes_to_decimal(&[]), "0");
        assert_eq!(be_bytes_to_decimal(&[0, 0]), "0");
        assert_eq!(be_bytes_to_decimal(&[1, 0]), "256");
        assert_eq!(be_bytes_to_decimal(&[0xff; 8]), u64::MAX.to_string());
        assert_eq!(be_bytes_to_decimal(&[0x3b, 0x9a, 0xca, 0x00]), "1000000000");
        let mut v = vec![0u8; 16];
        v[0] = 1; // 2^120
        assert_eq!(be_bytes_to_decimal(&v), "1329227995784915872903807060280344576");
    }
}
