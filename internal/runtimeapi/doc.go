// Package runtimeapi serves the Lambda Runtime API on loopback, so that the real
// bootstrap binary runs locally exactly as Lambda runs it: it asks for the next
// event, gets a deadline and a request id, and posts its response or error.
package runtimeapi
