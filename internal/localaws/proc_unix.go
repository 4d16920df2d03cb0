//go:build unix && !linux

package localaws

import "syscall"

// Only Linux has a parent-death signal: elsewhere Shutdown alone stops moto.
func motoProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
