package main

import (
	"runtime/debug"
	"strconv"
	"syscall"
)

// tuneGC trades memory, which a function has reserved anyway, for CPU, which
// it has little of (a 128 MB function gets about 7% of a vCPU): the heap may
// grow to five times what is live before a collection, but never past three
// quarters of the function's memory.
func tuneGC(memoryMB string) {
	mb, err := strconv.Atoi(memoryMB)
	if err != nil || mb <= 0 {
		return
	}
	debug.SetMemoryLimit(int64(mb) << 20 * 3 / 4)
	debug.SetGCPercent(400)
}

// openFiles is the process's limit on open files: 1024 on Lambda.
func openFiles() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<20 {
		return 1 << 20
	}
	return int(l.Cur)
}
