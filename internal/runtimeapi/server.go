package runtimeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const prefix = "/2018-06-01/runtime/"

// FunctionError is what a function reports when its handler fails.
type FunctionError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Result is one invocation's outcome.
type Result struct {
	RequestID string
	Payload   []byte         // the handler's response, when it succeeded
	Err       *FunctionError // the handler's error, when it failed
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan Result
}

// Server is a Runtime API endpoint for one function process at a time.
type Server struct {
	// Addr is the value for AWS_LAMBDA_RUNTIME_API.
	Addr string

	srv     *http.Server
	next    chan *invocation
	seq     atomic.Int64
	mu      sync.Mutex
	pending map[string]*invocation
	initErr chan FunctionError
	ready   chan struct{}
	once    sync.Once
}

// Ready is closed when the function first asks for an event: it has finished
// its initialisation.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Start listens on a loopback port.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the Lambda Runtime API: %w", err)
	}
	s := &Server{Addr: ln.Addr().String(), next: make(chan *invocation), pending: map[string]*invocation{},
		initErr: make(chan FunctionError, 1), ready: make(chan struct{})}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops serving.
func (s *Server) Close() { s.srv.Close() }

// Invoke hands the payload to the function with the given timeout and waits for
// its answer. It fails if the function reported an init error, or did not answer
// before the timeout (plus a second of grace) or ctx ended.
func (s *Server) Invoke(ctx context.Context, payload []byte, timeout time.Duration) (Result, error) {
	inv := &invocation{
		id:       fmt.Sprintf("local-%04d-%d", s.seq.Add(1), time.Now().UnixNano()%1_000_000),
		payload:  payload,
		deadline: time.Now().Add(timeout),
		done:     make(chan Result, 1),
	}
	s.mu.Lock()
	s.pending[inv.id] = inv
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, inv.id)
		s.mu.Unlock()
	}()
	wait := time.NewTimer(timeout + time.Second)
	defer wait.Stop()
	select {
	case s.next <- inv:
	case fe := <-s.initErr:
		return Result{}, fmt.Errorf("the function failed to start: %w", &fe)
	case <-wait.C:
		return Result{}, fmt.Errorf("the function did not ask for the event within %s", timeout)
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-wait.C:
		return Result{}, fmt.Errorf("invocation %s: no answer within the %s timeout", inv.id, timeout)
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, prefix)
	switch {
	case r.Method == http.MethodGet && path == "invocation/next":
		s.once.Do(func() { close(s.ready) })
		select {
		case inv := <-s.next:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:proget-monitor")
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
			h.Set("Content-Type", "application/json")
			w.Write(inv.payload)
		case <-r.Context().Done():
		}
	case r.Method == http.MethodPost && path == "init/error":
		var fe FunctionError
		json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&fe)
		select {
		case s.initErr <- fe:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "invocation/"):
		id, kind, _ := strings.Cut(strings.TrimPrefix(path, "invocation/"), "/")
		s.mu.Lock()
		inv := s.pending[id]
		s.mu.Unlock()
		if inv == nil || (kind != "response" && kind != "error") {
			http.Error(w, `{"errorMessage":"unknown invocation"}`, http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 6<<20))
		res := Result{RequestID: id}
		if kind == "response" {
			res.Payload = body
		} else {
			res.Err = &FunctionError{}
			if err := json.Unmarshal(body, res.Err); err != nil {
				res.Err.Message = string(body)
			}
		}
		select {
		case inv.done <- res:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}
