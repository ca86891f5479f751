"""Voice library, voice conversion (WORLD, neural converters), uploads and SSRF-safe URL fetching."""
