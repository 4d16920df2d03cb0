// Package progetsim simulates ProGet instances of each generation (5.x, 2023,
// 2024-2025, 2026+) over real HTTP, with the quirks of their health endpoints,
// for tests, benchmarks and local runs.
package progetsim
