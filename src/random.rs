//! Random bytes from the kernel, for seeds, nonces and jitter — never derived from the clock.

use std::hash::{BuildHasher as _, Hasher as _};

/// `N` random bytes: the kernel's `getrandom`, or where that fails (a seccomp filter, a kernel
/// without it) the per-process random keys of the standard library's hasher.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let mut filled = 0;
    while filled < N {
        match rustix::rand::getrandom(&mut b[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    if filled < N {
        for (i, chunk) in b.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    b
}

/// `N` random bytes from the kernel for a secret (a session token, a salt): `None` when the
/// kernel cannot give them, rather than anything weaker.
pub fn secret_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut b = [0u8; N];
    let mut filled = 0;
    while filled < N {
        match rustix::rand::getrandom(&mut b[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(0) => return None,
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    Some(b)
}

/// A random number below `max` (0 when `max` is 0).
pub fn below(max: u64) -> u64 {
    u64::from_le_bytes(bytes::<8>()) % max.max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_draws_differ_and_below_stays_below() {
        assert_ne!(super::bytes::<16>(), super::bytes::<16>());
        assert!((0..1000).all(|_| super::below(7) < 7));
        assert_eq!(super::below(0), 0);
    }
}
