// Package localaws runs a real AWS wire-protocol stack on loopback: an
// emulator (kumo in process, or the stricter moto_server) behind a recording
// proxy that counts every call by service and operation, and can add latency
// or inject faults. Tests, benchmarks and the local run use it; the monitor
// itself never imports it.
package localaws
