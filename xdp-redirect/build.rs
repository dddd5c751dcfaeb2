//! Compiles the XDP program with clang (via libbpf-cargo) into OUT_DIR; lib.rs embeds the
//! object, so the meter binary carries its own program and needs no file at run time.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "src/bpf/redirect.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("redirect.bpf.o");
    // Debian keeps asm/types.h under the multiarch include directory.
    let multiarch = format!("-I/usr/include/{}-linux-gnu", env::consts::ARCH);
    if let Err(e) = SkeletonBuilder::new()
        .source(SRC)
        .obj(&obj)
        .clang_args([multiarch.as_str(), "-Wall", "-Werror"])
        .build()
    {
        panic!("compiling {SRC} failed: {e:#}\n(needs clang and libbpf-dev: run scripts/deps.sh)");
    }
    println!("cargo:rerun-if-changed={SRC}");
}
