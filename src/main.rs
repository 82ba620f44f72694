fn main() {
    println!("rsgi {}", env!("CARGO_PKG_VERSION"));
}
