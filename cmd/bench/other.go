//go:build !linux

// The benchmark measures the function through Linux's /proc and prlimit.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "make bench runs on Linux: it limits the function's open files with prlimit and reads its CPU time and memory from /proc")
	os.Exit(2)
}
