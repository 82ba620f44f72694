//! The config loader: CLI, ini, TOML, YAML and environment into one typed `Config`.
