package runtimeapi

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Function is a bootstrap binary running against its own Runtime API server.
type Function struct {
	*Server
	cmd     *exec.Cmd
	exited  chan struct{}
	Started time.Time // when the process was started
}

// StartFunction starts the binary with env (plus AWS_LAMBDA_RUNTIME_API and the
// variables Lambda itself sets), its output going to logs.
func StartFunction(binary string, env []string, logs io.Writer) (*Function, error) {
	srv, err := Start()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + srv.Addr,
		"AWS_LAMBDA_FUNCTION_NAME=proget-monitor",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
	}, env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	f := &Function{Server: srv, cmd: cmd, exited: make(chan struct{}), Started: time.Now()}
	if err := cmd.Start(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() { cmd.Wait(); close(f.exited) }()
	return f, nil
}

// WaitReady waits until the function asks for its first event.
func (f *Function) WaitReady(ctx context.Context) (time.Duration, error) {
	select {
	case <-f.Ready():
		return time.Since(f.Started), nil
	case <-f.exited:
		return 0, fmt.Errorf("the function exited during initialisation: %v", f.cmd.ProcessState)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Invoke sends one event, as Lambda would, and fails early if the process dies.
func (f *Function) Invoke(ctx context.Context, payload []byte, timeout time.Duration) (Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-f.exited:
			cancel(fmt.Errorf("the function process exited: %v", f.cmd.ProcessState))
		case <-ctx.Done():
		}
	}()
	r, err := f.Server.Invoke(ctx, payload, timeout)
	if err != nil && context.Cause(ctx) != nil && ctx.Err() != nil {
		return r, context.Cause(ctx)
	}
	return r, err
}

// Close stops the process as Lambda does (SIGTERM, then SIGKILL) and the server.
func (f *Function) Close() {
	f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.exited:
	case <-time.After(2 * time.Second):
		f.cmd.Process.Kill()
		<-f.exited
	}
	f.Server.Close()
}

// Kill ends the process at once, as a crash or an out-of-memory kill would.
func (f *Function) Kill() {
	f.cmd.Process.Kill()
	<-f.exited
}

// PID is the function process's id, for reading its resource use.
func (f *Function) PID() int { return f.cmd.Process.Pid }
