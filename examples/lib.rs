//! Examples live beside this file; run them with `cargo run -p animescore-examples --example NAME`.
