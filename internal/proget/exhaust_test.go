package proget_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/proget"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
)

// A check that cannot open a socket because the process is out of file
// descriptors says so, and is not taken for an instance that is down.
func TestOutOfFilesIsNotDown(t *testing.T) {
	in := start(t, progetsim.V2023)
	c := proget.New(5 * time.Second)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var held []*os.File
	t.Cleanup(func() {
		for _, f := range held {
			f.Close()
		}
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	})
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, f)
	}
	o := c.Check(context.Background(), target(in.URL(), key))
	for _, f := range held {
		f.Close()
	}
	held = nil
	if !strings.Contains(o.NotChecked, "ran out of open files") {
		t.Errorf("out of files, the check reads %q (not checked: %q)", summarize(o), o.NotChecked)
	}
}
