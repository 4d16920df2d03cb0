package localaws

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
)

const (
	motoMissing = `moto_server not found on PATH: run "make tools" (it runs python3 -m pip install 'moto[server]')`
	// motoReady is how long moto_server may take to answer; it usually needs about a second.
	motoReady = 20 * time.Second
)

// moto is this process's one moto_server. moto keeps its resources per server
// process and takes about a second to start, so every Moto stack shares it and
// tests name their resources uniquely (Name).
var moto struct {
	once sync.Once
	mu   sync.Mutex
	proc *motoProcess
	err  error
}

type motoProcess struct {
	url    *url.URL
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process is reaped
}

// motoURL starts the shared moto_server on first use and returns its address.
func motoURL() (*url.URL, error) {
	moto.once.Do(func() {
		p, err := startMoto()
		moto.mu.Lock()
		defer moto.mu.Unlock()
		moto.proc, moto.err = p, err
	})
	moto.mu.Lock()
	defer moto.mu.Unlock()
	if moto.err != nil {
		return nil, moto.err
	}
	return moto.proc.url, nil
}

// Shutdown stops the moto_server that Moto stacks share, if one was started,
// and waits until it is gone. Call it once no stack is in use: Moto stacks
// cannot start again in this process. Main calls it for tests.
func Shutdown() {
	moto.once.Do(func() {})
	moto.mu.Lock()
	p := moto.proc
	moto.proc, moto.err = nil, errors.New("moto_server was already shut down in this process")
	moto.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

func startMoto() (*motoProcess, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New(motoMissing)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	out := &tail{max: 16 << 10}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", port)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that stopping it stops whatever runs behind a
	// launcher (pyenv's shim is bash exec-ing python); and, where the OS has
	// it, a kill on this process's death in case Shutdown never runs.
	cmd.SysProcAttr = motoProcAttr()
	started, exited := make(chan error, 1), make(chan struct{})
	go func() {
		// Linux sends the parent-death signal when the thread that started the
		// child exits, not the process: hold this thread for moto's whole life.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &motoProcess{url: &url.URL{Scheme: "http", Host: "127.0.0.1:" + port}, cmd: cmd, exited: exited}

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(motoReady)
	for {
		// Any HTTP answer means it serves (moto answers 404 on "/").
		if resp, err := client.Get(p.url.String() + "/"); err == nil {
			resp.Body.Close()
			return p, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("moto_server exited before answering on %s (%v); its last output:\n%s", p.url.Host, cmd.ProcessState, out.lastLines(20))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("moto_server did not answer on %s within %s; its last output:\n%s", p.url.Host, motoReady, out.lastLines(20))
		}
	}
}

// stop kills moto_server's process group and waits for it to be reaped.
func (p *motoProcess) stop() {
	killGroup(p.cmd.Process)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
}

// freePort returns a loopback port that nothing listens on at this moment.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port for moto_server: %w", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return "", fmt.Errorf("find a free port for moto_server: %w", err)
	}
	return port, nil
}

// tail keeps the last max bytes written to it: moto logs every request, and
// only its last lines explain a failure to start.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(string(bytes.TrimRight(t.buf, "\n")), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
