// Package progetsim simulates ProGet instances of each generation (5.2 before
// 5.2.9, 5.x, 2023, 2024-2025, early and current 2026+) over real HTTP, with
// the quirks of their health endpoints, other Inedo products at the same
// address, redirects, and several instances behind one host; their feeds
// (npm, NuGet, PyPI, Maven, asset directories) behind connectors that can
// go down, slow down or serve from their metadata cache, private feeds and
// ProGet's sign-in page; and HTTPS with a certificate of a chosen expiry,
// for tests, benchmarks and local runs.
package progetsim
