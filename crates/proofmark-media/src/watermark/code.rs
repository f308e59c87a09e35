//! The watermark's channel code: 128 payload bits + CRC-32, scrambled with a key stream, through the
//! rate-½ constraint-length-7 convolutional code (generators 133, 171 octal — the NASA/802.11 code) with a
//! zero tail, decoded by a soft-decision Viterbi decoder. The CRC is the acceptance gate: a decoded word whose
//! CRC does not match is "no watermark", never a payload.

/// Payload bits.
pub const PAYLOAD_BITS: usize = 128;
/// Payload + CRC-32.
pub const INFO_BITS: usize = PAYLOAD_BITS + 32;
const K: usize = 7;
const STATES: usize = 1 << (K - 1);
const G: [u32; 2] = [0o133, 0o171];
/// Coded bits carried by the image: two per info bit and per tail bit.
pub const CODED_BITS: usize = 2 * (INFO_BITS + K - 1);

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn bits_of(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().flat_map(|&b| (0..8).rev().map(move |i| (b >> i) & 1))
}

/// Payload → info bits (payload, then its CRC-32, each most significant bit first) XOR `scramble`.
pub fn info_bits(payload: &[u8; 16], scramble: &[u8; INFO_BITS]) -> [u8; INFO_BITS] {
    let crc = crc32(payload).to_be_bytes();
    let mut out = [0u8; INFO_BITS];
    for (i, bit) in bits_of(payload).chain(bits_of(&crc)).enumerate() {
        out[i] = bit ^ scramble[i];
    }
    out
}

/// Info bits → payload if the CRC matches.
pub fn payload_from_info(info: &[u8; INFO_BITS], scramble: &[u8; INFO_BITS]) -> Option<[u8; 16]> {
    let mut bytes = [0u8; 20];
    for i in 0..INFO_BITS {
        bytes[i / 8] |= (info[i] ^ scramble[i]) << (7 - i % 8);
    }
    let payload: [u8; 16] = bytes[..16].try_into().ok()?;
    let crc = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    (crc32(&payload) == crc).then_some(payload)
}

fn parity(x: u32) -> u8 {
    (x.count_ones() & 1) as u8
}

/// Convolutional encoding with a zero tail: `CODED_BITS` bits of 0/1.
pub fn encode(info: &[u8; INFO_BITS]) -> Vec<u8> {
    let mut state = 0u32;
    let mut out = Vec::with_capacity(CODED_BITS);
    for &bit in info.iter().chain([0u8; K - 1].iter()) {
        state = ((state << 1) | u32::from(bit)) & ((1 << K) - 1);
        out.push(parity(state & G[0]));
        out.push(parity(state & G[1]));
    }
    out
}

/// Soft-decision Viterbi: `soft[i] > 0` means coded bit i is more likely 1; magnitude is confidence.
/// Returns the most likely info word (the path ending in state 0).
pub fn decode(soft: &[f32]) -> [u8; INFO_BITS] {
    decode_with_metric(soft).0
}

/// [`decode`], and the chosen path's metric: Σ soft·(±1) over the coded bits of the codeword it re-encodes
/// to (how well the soft values agree with the nearest codeword; at most Σ |soft|).
pub fn decode_with_metric(soft: &[f32]) -> ([u8; INFO_BITS], f32) {
    assert_eq!(soft.len(), CODED_BITS, "one soft value per coded bit");
    let steps = INFO_BITS + K - 1;
    // A state is the last K-1 input bits; the shift into next state `ns` drops one bit `b` of its
    // predecessor `(ns >> 1) | b << (K-2)`, through the register `ns | b << (K-1)`. Per (ns, b), the signs
    // (±1) of the register's two output bits, made once.
    static SIGNS: std::sync::OnceLock<[[[f32; 2]; 2]; STATES]> = std::sync::OnceLock::new();
    let signs = SIGNS.get_or_init(|| {
        std::array::from_fn(|ns| {
            std::array::from_fn(|b| {
                let reg = (ns | b << (K - 1)) as u32;
                [G[0], G[1]].map(|g| if parity(reg & g) == 1 { 1.0 } else { -1.0 })
            })
        })
    });
    let mut metric = [f32::NEG_INFINITY; STATES];
    metric[0] = 0.0;
    let mut history = vec![[0u8; STATES]; steps];
    for (t, hist) in history.iter_mut().enumerate() {
        let (s0, s1) = (soft[2 * t], soft[2 * t + 1]);
        let mut next = [f32::NEG_INFINITY; STATES];
        // In the tail only zeros go in: the odd states are out of reach.
        let reachable = if t >= INFO_BITS { 2 } else { 1 };
        for ns in (0..STATES).step_by(reachable) {
            let [g0, g1] = signs[ns].map(|[a, b]| a * s0 + b * s1);
            let (m0, m1) = (metric[ns >> 1] + g0, metric[(ns >> 1) | 1 << (K - 2)] + g1);
            // Ties go to the first predecessor, the one with the dropped bit 0 (no branch: the choice is a
            // coin toss on noise, which a branch predictor would keep missing).
            let take1 = m1 > m0;
            next[ns] = if take1 { m1 } else { m0 };
            hist[ns] = u8::from(take1);
        }
        metric = next;
    }
    // Trace back from state 0.
    let mut state = 0usize;
    let mut bits = vec![0u8; steps];
    for t in (0..steps).rev() {
        bits[t] = (state & 1) as u8;
        let dropped = usize::from(history[t][state]);
        state = (state >> 1) | (dropped << (K - 2));
    }
    let mut info = [0u8; INFO_BITS];
    info.copy_from_slice(&bits[..INFO_BITS]);
    (info, metric[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scramble() -> [u8; INFO_BITS] {
        std::array::from_fn(|i| ((i * 7 + 3) % 5 == 0) as u8)
    }

    /// Soft values uniform in ±0.5 from a xorshift stream.
    fn noise(seed: u64) -> Vec<f32> {
        let mut x = seed;
        (0..CODED_BITS)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn path_metric_is_the_agreement_with_the_re_encoded_word() {
        let soft = noise(0x2545_F491_4F6C_DD1D);
        let (info, metric) = decode_with_metric(&soft);
        let again: f32 = encode(&info).iter().zip(&soft).map(|(&c, &s)| if c == 1 { s } else { -s }).sum();
        assert!((metric - again).abs() < 1e-3, "{metric} vs {again}");
        let total: f32 = soft.iter().map(|s| s.abs()).sum();
        assert!(metric > 0.0 && metric < total);
    }

    /// The Viterbi decoder written the plain way, forward over (state, input): the butterfly form above
    /// must choose the same path and metric, ties included.
    fn plain_decode(soft: &[f32]) -> ([u8; INFO_BITS], f32) {
        let steps = INFO_BITS + K - 1;
        let mut metric = [f32::NEG_INFINITY; STATES];
        metric[0] = 0.0;
        let mut history = vec![[0u8; STATES]; steps];
        for (t, hist) in history.iter_mut().enumerate() {
            let mut next = [f32::NEG_INFINITY; STATES];
            for (state, &m) in metric.iter().enumerate() {
                if m == f32::NEG_INFINITY {
                    continue;
                }
                for input in 0..=u32::from(t < INFO_BITS) {
                    let reg = ((state as u32) << 1) | input;
                    let sign = |g: u32, s: f32| if parity(reg & g) == 1 { s } else { -s };
                    let cand = m + (sign(G[0], soft[2 * t]) + sign(G[1], soft[2 * t + 1]));
                    let ns = (reg as usize) & (STATES - 1);
                    if cand > next[ns] {
                        next[ns] = cand;
                        hist[ns] = ((state >> (K - 2)) & 1) as u8;
                    }
                }
            }
            metric = next;
        }
        let (mut state, mut bits) = (0usize, vec![0u8; steps]);
        for t in (0..steps).rev() {
            bits[t] = (state & 1) as u8;
            state = (state >> 1) | (usize::from(history[t][state]) << (K - 2));
        }
        (std::array::from_fn(|i| bits[i]), metric[0])
    }

    #[test]
    fn butterfly_decoder_matches_the_plain_one() {
        for seed in 1..200u64 {
            let soft = noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            assert_eq!(decode_with_metric(&soft), plain_decode(&soft), "noise {seed}");
            // A codeword with every 9th bit flipped, and one quantised to ±1 (ties between paths).
            let info: [u8; INFO_BITS] = std::array::from_fn(|i| (soft[i] > 0.0) as u8);
            let word: Vec<f32> = encode(&info)
                .iter()
                .enumerate()
                .map(|(i, &b)| if (b == 1) != (i % 9 == 4) { 0.7 } else { -0.7 })
                .collect();
            assert_eq!(decode_with_metric(&word), plain_decode(&word), "codeword {seed}");
            let coarse: Vec<f32> = soft.iter().map(|s| s.signum()).collect();
            assert_eq!(decode_with_metric(&coarse), plain_decode(&coarse), "hard {seed}");
        }
    }

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn clean_channel_round_trips() {
        let payload: [u8; 16] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        let info = info_bits(&payload, &scramble());
        let coded = encode(&info);
        assert_eq!(coded.len(), CODED_BITS);
        let soft: Vec<f32> = coded.iter().map(|&b| if b == 1 { 1.0 } else { -1.0 }).collect();
        let decoded = decode(&soft);
        assert_eq!(payload_from_info(&decoded, &scramble()), Some(payload));
    }

    #[test]
    fn corrects_scattered_errors_and_rejects_noise() {
        let payload: [u8; 16] = std::array::from_fn(|i| (255 - i * 13) as u8);
        let info = info_bits(&payload, &scramble());
        let coded = encode(&info);
        // Flip every 12th coded bit (8 % raw errors, spread out): within the code's reach.
        let soft: Vec<f32> =
            coded.iter().enumerate().map(|(i, &b)| if (b == 1) != (i % 12 == 5) { 1.0 } else { -1.0 }).collect();
        assert_eq!(payload_from_info(&decode(&soft), &scramble()), Some(payload));
        // Pure noise decodes to some word whose CRC does not match.
        assert_eq!(payload_from_info(&decode(&noise(0x9E37_79B9_7F4A_7C15)), &scramble()), None);
    }
}
