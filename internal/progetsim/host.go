package progetsim

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// server is a loopback HTTP listener that comes back at the same port after
// a stop, serving HTTPS when it has a TLS configuration.
type server struct {
	mu   sync.Mutex
	addr string
	srv  *http.Server
	ln   net.Listener
	tls  *tls.Config
	// secure is whether the listener started last serves HTTPS: a
	// certificate set later applies from the next start.
	secure bool
}

// setTLS makes the server serve HTTPS from its next start.
func (s *server) setTLS(c *tls.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tls = c
}

func (s *server) start(h http.Handler, what string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("start %s on %s: %w", what, addr, err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.secure = s.tls != nil
	if s.secure {
		ln = tls.NewListener(ln, s.tls)
		// A client refusing the certificate is what such a test is about.
		s.srv.ErrorLog = log.New(io.Discard, "", 0)
	}
	s.ln = ln
	go s.srv.Serve(ln)
	return nil
}

// stop closes the listener and every connection.
func (s *server) stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// Close the listener too: Serve may not have taken it over yet.
		ln.Close()
		srv.Close()
	}
}

func (s *server) url() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secure {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// Host is one web server in front of several instances, each mounted under
// its own path, as a reverse proxy serves https://corp.example/proget-a and
// /proget-b from one host name and port.
type Host struct {
	srv    server
	mu     sync.Mutex
	mounts map[string]*Instance
}

// NewHost returns a stopped host with nothing mounted.
func NewHost() *Host { return &Host{mounts: map[string]*Instance{}} }

// Mount serves in under prefix ("/proget-a"): its URL becomes the host's URL
// followed by prefix, and it sees paths without the prefix. Mount an
// instance that is not started on its own port; its Start and Stop then make
// it answer behind the host or not.
func (h *Host) Mount(prefix string, in *Instance) {
	prefix = "/" + strings.Trim(prefix, "/")
	in.update(func() { in.host, in.prefix = h, prefix })
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mounts[prefix] = in
}

// Start listens on loopback, on the same port after Stop.
func (h *Host) Start() error { return h.srv.start(h, "simulated ProGet host") }

// Stop closes the listener and every connection.
func (h *Host) Stop() { h.srv.stop() }

// URL is the host's base URL.
func (h *Host) URL() string { return h.srv.url() }

func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in, rest := h.route(r.URL.Path)
	if in == nil {
		notFound(w)
		return
	}
	in.mu.Lock()
	stopped := in.stopped
	in.mu.Unlock()
	if stopped {
		http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		return
	}
	in.serve(w, r, rest)
}

// route finds the instance with the longest prefix that the path is under.
func (h *Host) route(path string) (*Instance, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	best := ""
	for p := range h.mounts {
		if (path == p || strings.HasPrefix(path, p+"/")) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		return nil, ""
	}
	rest := strings.TrimPrefix(path, best)
	if rest == "" {
		rest = "/"
	}
	return h.mounts[best], rest
}

// SetHost makes the instance listen on another loopback address (127.0.0.2,
// 127.0.0.3, ...) from its first start: instances with addresses of their
// own are told apart by TLS clients, which keep sessions per host.
func (in *Instance) SetHost(ip string) {
	in.srv.mu.Lock()
	defer in.srv.mu.Unlock()
	if in.srv.addr == "" {
		in.srv.addr = net.JoinHostPort(ip, "0")
	}
}
