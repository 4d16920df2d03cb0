package main

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// currentRequest is the request id of the invocation in progress: Lambda
// gives a process one invocation at a time, so every line the process writes
// meanwhile belongs to it, whoever writes it.
var currentRequest atomic.Pointer[string]

// newLogger writes JSON lines, each with the current request id.
func newLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(requestHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

type requestHandler struct{ slog.Handler }

func (h requestHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := currentRequest.Load(); id != nil {
		r = r.Clone()
		r.AddAttrs(slog.String("requestId", *id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestHandler{h.Handler.WithAttrs(as)}
}

func (h requestHandler) WithGroup(name string) slog.Handler {
	return requestHandler{h.Handler.WithGroup(name)}
}

// requestLogger makes the invocation's request id the one every line gets
// (see newLogger), from here until the next invocation.
func requestLogger(ctx context.Context, log *slog.Logger) *slog.Logger {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		currentRequest.Store(&lc.AwsRequestID)
	}
	return log
}
