//go:build unix

package localaws

import (
	"os"
	"syscall"
)

// killGroup kills the process group p leads.
func killGroup(p *os.Process) { syscall.Kill(-p.Pid, syscall.SIGKILL) }
