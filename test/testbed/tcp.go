package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// TCPExchangeSize is how many bytes TCPExchange sends each way: many
// segments at any MTU, so segmentation and checksums of full-size frames
// are exercised, not only the handshake.
const TCPExchangeSize = 64 << 10

// tcpExchangeTimeout bounds a TCPExchange whose context allows longer. The
// kernel retransmits a SYN lost to flows not yet installed after 1s and
// 3s, so a healthy path is through well within it.
const tcpExchangeTimeout = 15 * time.Second

// TCPExchange opens a TCP listener on toIP (an ephemeral port) inside
// toNetns, connects to it from fromNetns, sends TCPExchangeSize random
// bytes each way (client first, then the server's answer) and checks that
// both arrive intact. It is bounded by ctx and by tcpExchangeTimeout.
func (b *Bed) TCPExchange(ctx context.Context, fromNetns, toNetns, toIP string) (err error) {
	ctx, cancel := context.WithTimeout(ctx, tcpExchangeTimeout)
	defer cancel()
	defer func() {
		if err != nil {
			err = fmt.Errorf("TCP exchange from %s to %s in %s: %w", fromNetns, toIP, toNetns, err)
		}
	}()
	request, reply := make([]byte, TCPExchangeSize), make([]byte, TCPExchangeSize)
	_, _ = rand.Read(request)
	_, _ = rand.Read(reply)

	// Each socket is created in its namespace and stays there, so only
	// Listen and Dial run on a switched thread.
	var lis net.Listener
	err = inNetns(toNetns, func() (err error) {
		lis, err = (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(toIP, "0"))
		return err
	})
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer lis.Close()
	stop := context.AfterFunc(ctx, func() { lis.Close() })
	defer stop()

	served := make(chan error, 1)
	go func() { served <- serve(ctx, lis, request, reply) }()

	var conn net.Conn
	err = inNetns(fromNetns, func() (err error) {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", lis.Addr().String())
		return err
	})
	if err != nil {
		lis.Close() // the server's error is only that it accepted nothing
		<-served
		return fmt.Errorf("dial %s: %w", lis.Addr(), err)
	}
	got, err := client(ctx, conn.(*net.TCPConn), request, len(reply))
	if err == nil && !bytes.Equal(got, reply) {
		err = fmt.Errorf("client received %d bytes that differ from the %d the server sent", len(got), len(reply))
	}
	return errors.Join(err, <-served)
}

// client sends request, half-closes and reads the server's answer until
// the server closes (at most limit+1 bytes, so a long answer shows).
func client(ctx context.Context, conn *net.TCPConn, request []byte, limit int) ([]byte, error) {
	defer conn.Close()
	defer unblockOnDone(ctx, conn)()
	if _, err := conn.Write(request); err != nil {
		return nil, errors.Join(fmt.Errorf("client: write: %w", err), ctx.Err())
	}
	if err := conn.CloseWrite(); err != nil {
		return nil, fmt.Errorf("client: close write: %w", err)
	}
	got, err := io.ReadAll(io.LimitReader(conn, int64(limit)+1))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("client: read after %d bytes: %w", len(got), err), ctx.Err())
	}
	return got, nil
}

// serve accepts one connection on lis, reads the request until the client
// half-closes, checks it, then answers with reply and closes. Reading all
// before answering keeps either side from blocking on a full window.
func serve(ctx context.Context, lis net.Listener, want, reply []byte) error {
	c, err := lis.Accept()
	if err != nil {
		return errors.Join(fmt.Errorf("server: accept: %w", err), ctx.Err())
	}
	conn := c.(*net.TCPConn)
	defer conn.Close()
	defer unblockOnDone(ctx, conn)()
	got, err := io.ReadAll(io.LimitReader(conn, int64(len(want))+1))
	if err != nil {
		return errors.Join(fmt.Errorf("server: read after %d bytes: %w", len(got), err), ctx.Err())
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("server received %d bytes that differ from the %d the client sent", len(got), len(want))
	}
	if _, err := conn.Write(reply); err != nil {
		return errors.Join(fmt.Errorf("server: write: %w", err), ctx.Err())
	}
	return nil
}

// unblockOnDone unblocks conn's reads and writes when ctx ends; call the
// returned func to stop watching.
func unblockOnDone(ctx context.Context, conn net.Conn) func() bool {
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
}
