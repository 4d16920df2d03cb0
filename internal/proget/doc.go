// Package proget observes a ProGet instance over HTTP and turns what it
// answers, however malformed, into a monitor.Observation: its health
// endpoints (/health and /api/connector-health) across ProGet generations,
// the certificate /health was served with, and feed probes, which ask a
// feed for a package through its connector as the feed's users do (the
// only way to see a connector fail on ProGet 2024 and later). /health and
// connector-health follow redirects only within the instance's own host;
// probes follow them anywhere, as a browser would, but send the API key
// only to the instance's own host. Nothing connects to loopback, link-local
// or the Lambda Runtime API's address unless the instance's url is one, and
// the API key is scrubbed from everything an instance answers before it is
// read.
package proget
