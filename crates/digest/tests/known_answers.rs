//! Known-answer vectors for every algorithm, from the documents that define them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hashscan_digest::{Algorithm, AlgorithmSet, Hasher, Options, hash_bytes};

fn hex_of(alg: Algorithm, data: &[u8]) -> String {
    hash_bytes(AlgorithmSet::one(alg), data)
        .get(alg)
        .unwrap()
        .to_hex()
}

/// Every vector also goes through the multi-lane path with every algorithm at once, fed in
/// uneven pieces, so lanes and chunk boundaries cannot change an answer.
fn check(alg: Algorithm, data: &[u8], want: &str) {
    assert_eq!(hex_of(alg, data), want, "{alg} over {} bytes", data.len());
    let mut h = Hasher::with_options(
        AlgorithmSet::all(),
        &Options::new().lanes(3).chunk_size(4096),
    );
    for piece in data.chunks(1000) {
        h.update(piece);
    }
    let all = h.finish();
    assert_eq!(all.size(), data.len() as u64);
    assert_eq!(all.get(alg).unwrap().to_hex(), want, "{alg} in lanes");
}

const A_MILLION: usize = 1_000_000;

#[test]
fn md5_rfc1321_test_suite() {
    // RFC 1321, appendix A.5.
    let cases: [(&str, &str); 7] = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        (
            "abcdefghijklmnopqrstuvwxyz",
            "c3fcd3d76192e4007dfb496cca67e13b",
        ),
        (
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "d174ab98d277d9f5a5611c2c9f419d9f",
        ),
        (
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a",
        ),
    ];
    for (input, want) in cases {
        check(Algorithm::Md5, input.as_bytes(), want);
    }
}

#[test]
fn sha1_fips180_examples() {
    check(
        Algorithm::Sha1,
        b"abc",
        "a9993e364706816aba3e25717850c26c9cd0d89d",
    );
    check(
        Algorithm::Sha1,
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    );
    check(
        Algorithm::Sha1,
        &vec![b'a'; A_MILLION],
        "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
    );
}

#[test]
fn sha256_fips180_examples() {
    check(
        Algorithm::Sha256,
        b"abc",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    check(
        Algorithm::Sha256,
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
    check(
        Algorithm::Sha256,
        &vec![b'a'; A_MILLION],
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    );
}

#[test]
fn sha512_fips180_examples() {
    check(
        Algorithm::Sha512,
        b"abc",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    );
    check(
        Algorithm::Sha512,
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018\
         501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
    );
    check(
        Algorithm::Sha512,
        &vec![b'a'; A_MILLION],
        "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb\
         de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b",
    );
}

#[test]
fn crc_check_values() {
    // The "check" value of a CRC is its value over the ASCII string "123456789"
    // (Williams' model; the catalogue of parametrised CRC algorithms).
    // CRC-64/XZ: width 64, poly 0x42f0e1eba9ea3693 (ECMA-182), init and xorout all ones,
    // reflected in and out. COS sends it as a decimal string.
    check(Algorithm::Crc64, b"123456789", "995dc9bbdf1939fa");
    let crc64 = hash_bytes(AlgorithmSet::one(Algorithm::Crc64), b"123456789");
    assert_eq!(
        crc64.get(Algorithm::Crc64).unwrap().as_u64(),
        Some(11_051_210_869_376_104_954)
    );
    // CRC-32C (iSCSI): poly 0x1edc6f41, reflected, init and xorout all ones.
    check(Algorithm::Crc32c, b"123456789", "e3069283");
    check(Algorithm::Crc64, b"", "0000000000000000");
    check(Algorithm::Crc32c, b"", "00000000");
}

#[test]
fn blake3_official_vectors() {
    // BLAKE3-team/BLAKE3 test_vectors/test_vectors.json: the input is the repeating sequence
    // 0, 1, …, 250; the default-length hash is the first 32 bytes of each extended output.
    let cases: [(usize, &str); 13] = [
        (
            0,
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        ),
        (
            1,
            "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
        ),
        (
            1023,
            "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
        ),
        (
            1024,
            "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
        ),
        (
            1025,
            "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
        ),
        (
            2048,
            "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a",
        ),
        (
            2049,
            "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030",
        ),
        (
            3072,
            "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2",
        ),
        (
            3073,
            "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3",
        ),
        (
            4096,
            "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969",
        ),
        (
            4097,
            "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995",
        ),
        (
            5120,
            "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833",
        ),
        (
            6145,
            "f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f",
        ),
    ];
    for (len, want) in cases {
        let input: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        check(Algorithm::Blake3, &input, want);
    }
}

#[test]
fn output_forms() {
    let d = hash_bytes(AlgorithmSet::one(Algorithm::Md5), b"");
    let md5 = d.get(Algorithm::Md5).unwrap();
    // Content-MD5 of the empty body, as S3 and COS document it.
    assert_eq!(md5.to_base64(), "1B2M2Y8AsgTpgAmY7PhCfg==");
    assert_eq!(md5.to_string(), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5.as_u64(), None);
    assert_eq!(d.get(Algorithm::Sha1), None);
}
