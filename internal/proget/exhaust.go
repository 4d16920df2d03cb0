package proget

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// idleConns bounds the idle connections the client keeps, over all
// instances: each is an open file a later check may need.
const idleConns = 32

type exhaustionKey struct{}

// watchExhaustion marks a check's context, so that a dial that fails for
// want of file descriptors is noticed: that says nothing of the instance, and
// the check must not read as Down.
func watchExhaustion(ctx context.Context) (context.Context, *atomic.Bool) {
	var flag atomic.Bool
	return context.WithValue(ctx, exhaustionKey{}, &flag), &flag
}

func noteExhaustion(dial func(ctx context.Context, network, address string) (net.Conn, error)) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dial(ctx, network, address)
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			if flag, ok := ctx.Value(exhaustionKey{}).(*atomic.Bool); ok {
				flag.Store(true)
			}
		}
		return conn, err
	}
}
