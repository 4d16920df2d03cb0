//go:build !unix

package localaws

import (
	"os"
	"syscall"
)

// Without process groups, moto_server is stopped by its own pid.
func motoProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) { p.Kill() }
