"""Settings: content/site.toml and the environment -> typed, validated ``Settings``."""
