//! The unnormalised DCT-II of length 32 computed the way scipy computes it (pocketfft's `T_dcst23` on top of
//! its FFTPACK-style real backward FFT, factors 2·4·4, twiddles from its `sincos_2pibyn`), operation for
//! operation, so results agree to the last bit. That matters only where a coefficient ties the pHash median,
//! but there it decides the bit (SPEC §3.1: bit-identical to imagehash, which calls scipy).
//! This is an independent Rust rendering of the published algorithm, specialised to n = 32.

pub const N: usize = 32;

/// pocketfft's `sincos_2pibyn(n)`: the n-th roots of unity from two small tables (v1 for the low bits of the
/// index, v2 for the high bits) whose entries come from `cos`/`sin` of multiples of π/(4n) folded into the
/// first octant; an entry is the product of one from each table.
struct Roots {
    n: usize,
    mask: usize,
    shift: u32,
    v1: Vec<(f64, f64)>,
    v2: Vec<(f64, f64)>,
}

impl Roots {
    fn calc(x: usize, n: usize, ang: f64) -> (f64, f64) {
        let x = x << 3;
        if x < 4 * n {
            if x < 2 * n {
                if x < n {
                    return ((x as f64 * ang).cos(), (x as f64 * ang).sin());
                }
                let y = (2 * n - x) as f64 * ang;
                return (y.sin(), y.cos());
            }
            let x = x - 2 * n;
            if x < n {
                return (-(x as f64 * ang).sin(), (x as f64 * ang).cos());
            }
            let y = (2 * n - x) as f64 * ang;
            return (-y.cos(), y.sin());
        }
        let x = 8 * n - x;
        if x < 2 * n {
            if x < n {
                return ((x as f64 * ang).cos(), -(x as f64 * ang).sin());
            }
            let y = (2 * n - x) as f64 * ang;
            return (y.sin(), -y.cos());
        }
        let x = x - 2 * n;
        if x < n {
            return (-(x as f64 * ang).sin(), -(x as f64 * ang).cos());
        }
        let y = (2 * n - x) as f64 * ang;
        (-y.cos(), -y.sin())
    }

    fn new(n: usize) -> Self {
        // 0.25·π/n in long double, then rounded: n is a power of two here, so that is π/(4n) in f64 exactly.
        let ang = std::f64::consts::PI * 0.25 / n as f64;
        let nval = (n + 2) / 2;
        let mut shift = 1u32;
        while (1usize << shift) * (1usize << shift) < nval {
            shift += 1;
        }
        let mask = (1usize << shift) - 1;
        let mut v1 = vec![(1.0, 0.0); mask + 1];
        for (i, v) in v1.iter_mut().enumerate().skip(1) {
            *v = Self::calc(i, n, ang);
        }
        let mut v2 = vec![(1.0, 0.0); nval.div_ceil(mask + 1)];
        for (i, v) in v2.iter_mut().enumerate().skip(1) {
            *v = Self::calc(i * (mask + 1), n, ang);
        }
        Self { n, mask, shift, v1, v2 }
    }

    fn get(&self, idx: usize) -> (f64, f64) {
        if 2 * idx <= self.n {
            let (a, b) = (self.v1[idx & self.mask], self.v2[idx >> self.shift]);
            return (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
        }
        let idx = self.n - idx;
        let (a, b) = (self.v1[idx & self.mask], self.v2[idx >> self.shift]);
        (a.0 * b.0 - a.1 * b.1, -(a.0 * b.1 + a.1 * b.0))
    }
}

fn radb2(ido: usize, l1: usize, cc: &[f64], ch: &mut [f64], wa: &[f64]) {
    let cci = |a: usize, b: usize, c: usize| a + ido * (b + 2 * c);
    let chi = |a: usize, b: usize, c: usize| a + ido * (b + l1 * c);
    for k in 0..l1 {
        ch[chi(0, k, 0)] = cc[cci(0, 0, k)] + cc[cci(ido - 1, 1, k)];
        ch[chi(0, k, 1)] = cc[cci(0, 0, k)] - cc[cci(ido - 1, 1, k)];
    }
    if ido & 1 == 0 {
        for k in 0..l1 {
            ch[chi(ido - 1, k, 0)] = 2.0 * cc[cci(ido - 1, 0, k)];
            ch[chi(ido - 1, k, 1)] = -2.0 * cc[cci(0, 1, k)];
        }
    }
    if ido <= 2 {
        return;
    }
    for k in 0..l1 {
        let mut i = 2;
        while i < ido {
            let ic = ido - i;
            ch[chi(i - 1, k, 0)] = cc[cci(i - 1, 0, k)] + cc[cci(ic - 1, 1, k)];
            let tr2 = cc[cci(i - 1, 0, k)] - cc[cci(ic - 1, 1, k)];
            let ti2 = cc[cci(i, 0, k)] + cc[cci(ic, 1, k)];
            ch[chi(i, k, 0)] = cc[cci(i, 0, k)] - cc[cci(ic, 1, k)];
            let (w0, w1) = (wa[i - 2], wa[i - 1]);
            ch[chi(i, k, 1)] = w0 * ti2 + w1 * tr2;
            ch[chi(i - 1, k, 1)] = w0 * tr2 - w1 * ti2;
            i += 2;
        }
    }
}

fn radb4(ido: usize, l1: usize, cc: &[f64], ch: &mut [f64], wa: &[f64]) {
    let sqrt2 = std::f64::consts::SQRT_2;
    let cci = |a: usize, b: usize, c: usize| a + ido * (b + 4 * c);
    let chi = |a: usize, b: usize, c: usize| a + ido * (b + l1 * c);
    let w = |x: usize, i: usize| wa[i + x * (ido - 1)];
    for k in 0..l1 {
        let tr2 = cc[cci(0, 0, k)] + cc[cci(ido - 1, 3, k)];
        let tr1 = cc[cci(0, 0, k)] - cc[cci(ido - 1, 3, k)];
        let tr3 = 2.0 * cc[cci(ido - 1, 1, k)];
        let tr4 = 2.0 * cc[cci(0, 2, k)];
        ch[chi(0, k, 0)] = tr2 + tr3;
        ch[chi(0, k, 2)] = tr2 - tr3;
        ch[chi(0, k, 3)] = tr1 + tr4;
        ch[chi(0, k, 1)] = tr1 - tr4;
    }
    if ido & 1 == 0 {
        for k in 0..l1 {
            let ti1 = cc[cci(0, 3, k)] + cc[cci(0, 1, k)];
            let ti2 = cc[cci(0, 3, k)] - cc[cci(0, 1, k)];
            let tr2 = cc[cci(ido - 1, 0, k)] + cc[cci(ido - 1, 2, k)];
            let tr1 = cc[cci(ido - 1, 0, k)] - cc[cci(ido - 1, 2, k)];
            ch[chi(ido - 1, k, 0)] = tr2 + tr2;
            ch[chi(ido - 1, k, 1)] = sqrt2 * (tr1 - ti1);
            ch[chi(ido - 1, k, 2)] = ti2 + ti2;
            ch[chi(ido - 1, k, 3)] = -sqrt2 * (tr1 + ti1);
        }
    }
    if ido <= 2 {
        return;
    }
    for k in 0..l1 {
        let mut i = 2;
        while i < ido {
            let ic = ido - i;
            let (tr2, tr1) =
                (cc[cci(i - 1, 0, k)] + cc[cci(ic - 1, 3, k)], cc[cci(i - 1, 0, k)] - cc[cci(ic - 1, 3, k)]);
            let (ti1, ti2) = (cc[cci(i, 0, k)] + cc[cci(ic, 3, k)], cc[cci(i, 0, k)] - cc[cci(ic, 3, k)]);
            let (tr4, ti3) = (cc[cci(i, 2, k)] + cc[cci(ic, 1, k)], cc[cci(i, 2, k)] - cc[cci(ic, 1, k)]);
            let (tr3, ti4) =
                (cc[cci(i - 1, 2, k)] + cc[cci(ic - 1, 1, k)], cc[cci(i - 1, 2, k)] - cc[cci(ic - 1, 1, k)]);
            ch[chi(i - 1, k, 0)] = tr2 + tr3;
            let cr3 = tr2 - tr3;
            ch[chi(i, k, 0)] = ti2 + ti3;
            let ci3 = ti2 - ti3;
            let (cr4, cr2) = (tr1 + tr4, tr1 - tr4);
            let (ci2, ci4) = (ti1 + ti4, ti1 - ti4);
            ch[chi(i, k, 1)] = w(0, i - 2) * ci2 + w(0, i - 1) * cr2;
            ch[chi(i - 1, k, 1)] = w(0, i - 2) * cr2 - w(0, i - 1) * ci2;
            ch[chi(i, k, 2)] = w(1, i - 2) * ci3 + w(1, i - 1) * cr3;
            ch[chi(i - 1, k, 2)] = w(1, i - 2) * cr3 - w(1, i - 1) * ci3;
            ch[chi(i, k, 3)] = w(2, i - 2) * ci4 + w(2, i - 1) * cr4;
            ch[chi(i - 1, k, 3)] = w(2, i - 2) * cr4 - w(2, i - 1) * ci4;
            i += 2;
        }
    }
}

/// Precomputed tables for the length-32 transform.
#[derive(Debug, Clone)]
pub struct Dct32 {
    /// radb2 twiddles (ip 2, l1 1, ido 16): 15 values.
    tw_2: [f64; 15],
    /// radb4 twiddles (ip 4, l1 2, ido 4): 3 × 3 values.
    tw_4: [f64; 9],
    /// cos(π/2 · (i+1)/32).
    twiddle: [f64; N],
}

impl Default for Dct32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Dct32 {
    pub fn new() -> Self {
        // rfftp twiddles: factor 2 (l1 1, ido 16) uses roots j·i, factor 4 (l1 2, ido 4) roots 2·j.
        let r = Roots::new(N);
        let mut tw_2 = [0f64; 15];
        for i in 1..=7 {
            (tw_2[2 * i - 2], tw_2[2 * i - 1]) = r.get(i);
        }
        let mut tw_4 = [0f64; 9];
        for j in 1..4 {
            (tw_4[(j - 1) * 3], tw_4[(j - 1) * 3 + 1]) = r.get(2 * j);
        }
        // T_dcst23: twiddle[i] = Re(root (i+1) of 4N).
        let r4 = Roots::new(4 * N);
        let mut twiddle = [0f64; N];
        for (i, t) in twiddle.iter_mut().enumerate() {
            *t = r4.get(i + 1).0;
        }
        Self { tw_2, tw_4, twiddle }
    }

    /// `scipy.fftpack.dct(x)` (type II, no normalisation) for 32 values.
    pub fn forward(&self, x: &[f64; N]) -> [f64; N] {
        let mut c = *x;
        c[0] *= 2.0;
        c[N - 1] *= 2.0;
        let mut k = 1;
        while k < N - 1 {
            let t = c[k + 1];
            c[k + 1] -= c[k];
            c[k] += t;
            k += 2;
        }
        // Real backward FFT, factors [2, 4, 4]: radb2(16, 1), radb4(4, 2), radb4(1, 8).
        let mut ch = [0f64; N];
        radb2(16, 1, &c, &mut ch, &self.tw_2);
        radb4(4, 2, &ch, &mut c, &self.tw_4);
        radb4(1, 8, &c, &mut ch, &[]);
        let mut c = ch;
        let (tw, ns2) = (&self.twiddle, N.div_ceil(2));
        let (mut k, mut kc) = (1, N - 1);
        while k < ns2 {
            let t1 = tw[k - 1] * c[kc] + tw[kc - 1] * c[k];
            let t2 = tw[k - 1] * c[k] - tw[kc - 1] * c[kc];
            c[k] = 0.5 * (t1 + t2);
            c[kc] = 0.5 * (t1 - t2);
            k += 1;
            kc -= 1;
        }
        c[ns2] *= tw[ns2 - 1];
        c
    }
}
