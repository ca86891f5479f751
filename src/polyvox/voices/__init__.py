"""Voice library, Kokoro blends, voice conversion, cloning for every engine and SSRF-safe URL fetching."""
