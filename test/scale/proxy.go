package scale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Counts is what one agent's OVSDB session received from its server,
// server → client, split by kind of JSON-RPC message. Echo requests and
// the replies to the client's echoes are inactivity probes, not work:
// they are counted apart so that they neither inflate the per-operation
// figures nor keep a quiescence wait from ending.
type Counts struct {
	// Updates are "update", "update2" and "update3" notifications: what a
	// monitor sends when a row it covers changes.
	Updates, UpdateBytes int64
	// OtherBytes are replies to the client's requests (transact, monitor,
	// get_schema, …) and any other notification.
	OtherBytes int64
	// EchoBytes are echo requests and echo replies.
	EchoBytes int64
}

// Sub is c - o, field by field.
func (c Counts) Sub(o Counts) Counts {
	return Counts{Updates: c.Updates - o.Updates, UpdateBytes: c.UpdateBytes - o.UpdateBytes,
		OtherBytes: c.OtherBytes - o.OtherBytes, EchoBytes: c.EchoBytes - o.EchoBytes}
}

// Add is c + o, field by field.
func (c Counts) Add(o Counts) Counts {
	return Counts{Updates: c.Updates + o.Updates, UpdateBytes: c.UpdateBytes + o.UpdateBytes,
		OtherBytes: c.OtherBytes + o.OtherBytes, EchoBytes: c.EchoBytes + o.EchoBytes}
}

// Bytes is everything but echoes.
func (c Counts) Bytes() int64 { return c.UpdateBytes + c.OtherBytes }

// counters are a proxy's running Counts, updated by its copy loops.
type counters struct {
	updates, updateBytes, otherBytes, echoBytes atomic.Int64
}

func (c *counters) snapshot() Counts {
	return Counts{Updates: c.updates.Load(), UpdateBytes: c.updateBytes.Load(),
		OtherBytes: c.otherBytes.Load(), EchoBytes: c.echoBytes.Load()}
}

// Proxy forwards every connection made to its unix socket to one OVSDB
// remote (unix:PATH or tcp:HOST:PORT) and counts what the server sends
// back. One proxy stands in front of one agent: its counts are that
// agent's session (a reconnect is a new connection to the same proxy and
// adds to the same counts).
type Proxy struct {
	// Listen is the socket the agent is given (as unix:Listen).
	Listen string
	target string
	lis    net.Listener
	c      counters
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	err    error // the first copy error that was not a close
	// trace, when set, gets every message the server sent that is not an
	// echo, one per line: what an operation's bytes were made of.
	trace io.Writer
}

// NewProxy listens on the unix socket path and forwards to target;
// trace, when not nil, gets every non-echo message from the server.
func NewProxy(path, target string, trace io.Writer) (*Proxy, error) {
	if _, _, err := splitRemote(target); err != nil {
		return nil, err
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("proxy for %s: %w", target, err)
	}
	p := &Proxy{Listen: path, target: target, lis: lis, trace: trace}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func splitRemote(remote string) (network, addr string, err error) {
	for _, n := range []string{"unix", "tcp"} {
		if rest, ok := strings.CutPrefix(remote, n+":"); ok {
			return n, rest, nil
		}
	}
	return "", "", fmt.Errorf("proxy target %q: want unix:PATH or tcp:HOST:PORT", remote)
}

// Counts returns what the proxy's sessions received so far.
func (p *Proxy) Counts() Counts { return p.c.snapshot() }

// Err is the first error a session's copy hit that was not the end of the
// connection (a server that sent something other than JSON, say).
func (p *Proxy) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Close stops accepting, closes every session and waits for the copies.
func (p *Proxy) Close() error {
	err := p.lis.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.lis.Accept()
		if err != nil {
			return // closed
		}
		network, addr, _ := splitRemote(p.target)
		server, err := net.Dial(network, addr)
		if err != nil {
			p.fail(fmt.Errorf("proxy dial %s: %w", p.target, err))
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.session(client, server)
		}()
	}
}

func (p *Proxy) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// session copies both ways until either side closes, then closes both.
func (p *Proxy) session(client, server net.Conn) {
	echoes := &echoIDs{ids: map[string]bool{}}
	done := make(chan struct{}, 2)
	go func() {
		err := forwardRequests(client, server, echoes)
		p.endCopy(err)
		done <- struct{}{}
	}()
	go func() {
		err := countReplies(io.TeeReader(server, client), echoes, &p.c, p.trace)
		p.endCopy(err)
		done <- struct{}{}
	}()
	<-done
	client.Close()
	server.Close()
	<-done
}

func (p *Proxy) endCopy(err error) {
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		p.fail(err)
	}
}

// isReset: the other side went away mid-stream, as a killed agent does.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// echoIDs are the ids of the echo requests a client sent, so that their
// replies can be told from the replies to real requests.
type echoIDs struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (e *echoIDs) add(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids[id] = true
}

// take reports whether id was an echo's, forgetting it.
func (e *echoIDs) take(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ok := e.ids[id]
	delete(e.ids, id)
	return ok
}

// message is what the counting needs of a JSON-RPC 1.0 message: a
// request or notification has a method, a reply a null method field or
// none, and a reply's id is its request's.
type message struct {
	Method string          `json:"method"`
	ID     json.RawMessage `json:"id"`
}

// forwardRequests copies the client's messages to the server one by one,
// remembering each echo request's id before the server can see it: were
// the id recorded after forwarding, the reply could overtake it and count
// as work.
func forwardRequests(client io.Reader, server io.Writer, echoes *echoIDs) error {
	dec := json.NewDecoder(client)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		var m message
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("client sent a message that is not JSON-RPC: %w", err)
		}
		if m.Method == "echo" {
			echoes.add(string(m.ID))
		}
		if _, err := server.Write(raw); err != nil {
			return err
		}
	}
}

// countReplies reads the server's stream and counts each message by
// kind, its size being the stream bytes it took (InputOffset moves past
// the whitespace between messages too, which is the server's to send).
func countReplies(r io.Reader, echoes *echoIDs, c *counters, trace io.Writer) error {
	dec := json.NewDecoder(r)
	var last int64
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		var m message
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("server sent a message that is not JSON-RPC: %w", err)
		}
		n := dec.InputOffset() - last
		last = dec.InputOffset()
		echo := m.Method == "echo" || (m.Method == "" && echoes.take(string(m.ID)))
		if trace != nil && !echo {
			fmt.Fprintf(trace, "%s\n", raw)
		}
		switch {
		case m.Method == "update" || m.Method == "update2" || m.Method == "update3":
			c.updates.Add(1)
			c.updateBytes.Add(n)
		case echo:
			c.echoBytes.Add(n)
		default:
			c.otherBytes.Add(n)
		}
	}
}

// quiet reports whether none of counts changed between two snapshots,
// echoes aside.
func quiet(before, after []Counts) bool {
	for i := range before {
		d := after[i].Sub(before[i])
		if d.Updates != 0 || d.Bytes() != 0 {
			return false
		}
	}
	return true
}

// waitQuiet returns once no counter of snap moved for settle, polling
// every settle/6, or when ctx ends. This is the one wait by time in the
// tool: "the operation's effects have all arrived" has no event of its
// own (an agent that was sent nothing sends no signal), so the only proof
// is a long enough stretch in which nothing more arrives.
func waitQuiet(ctx context.Context, snap func() []Counts, settle time.Duration) error {
	last := snap()
	stable := time.Now()
	tick := time.NewTicker(settle / 6)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the sessions to go quiet: %w", ctx.Err())
		case <-tick.C:
		}
		now := snap()
		if !quiet(last, now) {
			last, stable = now, time.Now()
			continue
		}
		if time.Since(stable) >= settle {
			return nil
		}
	}
}
