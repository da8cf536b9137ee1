package devlink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrNetlinkUnavailable is what NetlinkSource.Run returns when the kernel
// has no devlink generic netlink family (a kernel built without devlink, or
// not Linux); the agent then needs --devlink-dump.
var ErrNetlinkUnavailable = errors.New("devlink netlink is unavailable")

// errOverrun marks a notification socket that dropped messages (ENOBUFS)
// or received one too large for its buffer: the table may have missed
// changes, so only a full dump can be trusted again.
var errOverrun = errors.New("netlink notifications were lost")

// renameSettle is how long a netdev rename waits before the dump that
// picks it up, so that udev renaming a burst of new representors costs one
// dump rather than one each.
const renameSettle = 200 * time.Millisecond

// devlinkFamily is the resolved devlink generic netlink family.
type devlinkFamily struct {
	id    uint16 // nlmsg_type of its messages
	group uint32 // the "config" multicast group
}

// kernel is what NetlinkSource needs from the kernel; tests substitute a
// fake that plays byte-level fixtures.
type kernel interface {
	// devlinkFamily resolves the family; an error wrapping
	// ErrNetlinkUnavailable means there is none.
	devlinkFamily() (devlinkFamily, error)
	// subscribeDevlink joins the family's config group.
	subscribeDevlink(f devlinkFamily) (notifier, error)
	// subscribeLinks joins rtnetlink's link group (RTM_NEWLINK/DELLINK).
	subscribeLinks() (notifier, error)
	// dumpPorts dumps every devlink port (DEVLINK_CMD_PORT_GET with
	// NLM_F_DUMP) and returns each reply's generic netlink payload.
	dumpPorts(f devlinkFamily) ([][]byte, error)
}

// notifier is a subscribed netlink socket.
type notifier interface {
	// receive returns the next datagram sent by the kernel; an error
	// wrapping errOverrun when messages were lost (the socket stays
	// usable); any error once closed.
	receive() ([]byte, error)
	// close unblocks a pending receive.
	close() error
}

// NetlinkSource keeps a Table current from the kernel's devlink: a full
// port dump at start and every resync interval, and in between the port
// notifications of the devlink family's "config" multicast group. Renames
// of representor netdevs (udev renames them after creation) are followed
// three ways: Linux 6.2 and later send a port notification with the new
// name; on any kernel an RTM_NEWLINK that renames a known ifindex triggers
// a dump shortly after; and the periodic resync is the safety net.
//
// The netlink path runs only on DPU hardware (or netdevsim); its decoding
// is tested on byte-level fixtures built to the kernel's layout. Run must
// not be called more than once at a time.
type NetlinkSource struct {
	table *Table
	opts  options
	log   *slog.Logger
	k     kernel
	// backoff bounds the wait before re-subscribing after a socket error.
	minBackoff, maxBackoff time.Duration

	// Run's state, touched by its goroutine only.
	fam    devlinkFamily
	names  map[uint32]string // ifindex → netdev name, as last heard of
	dumped bool
}

var _ Source = (*NetlinkSource)(nil)

// NewNetlinkSource feeds table from devlink netlink; options:
// WithResyncInterval (how often to dump all ports; default 30s, 0 disables)
// and WithLogger.
func NewNetlinkSource(table *Table, opts ...Option) *NetlinkSource {
	o := newOptions(opts)
	return &NetlinkSource{
		table:      table,
		opts:       o,
		log:        o.logger.With("component", "devlink", "source", "netlink"),
		k:          newKernel(),
		minBackoff: 500 * time.Millisecond,
		maxBackoff: 30 * time.Second,
	}
}

// Run keeps the table current until ctx ends, then returns nil. It returns
// an error wrapping ErrNetlinkUnavailable at once when the kernel has no
// devlink family, and an error if the family cannot be resolved at start;
// later socket or dump errors are logged and retried with backoff, and a
// notification overrun (ENOBUFS) triggers an immediate full dump.
func (s *NetlinkSource) Run(ctx context.Context) error {
	fam, err := s.k.devlinkFamily()
	if err != nil {
		if errors.Is(err, ErrNetlinkUnavailable) {
			return fmt.Errorf("%w; describe the representors with --devlink-dump FILE instead", err)
		}
		return fmt.Errorf("resolving the devlink generic netlink family: %w", err)
	}
	s.fam = fam
	s.names = make(map[uint32]string)
	s.log.Debug("devlink family resolved", "id", fam.id, "config_group", fam.group)
	wait := s.minBackoff
	for {
		healthy, err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if healthy {
			wait = s.minBackoff
		}
		s.log.Warn("devlink netlink failed; subscribing again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, s.maxBackoff)
	}
}

// received is one datagram (or error) from a notifier.
type received struct {
	links bool // from the rtnetlink link socket
	data  []byte
	err   error
}

// session subscribes, dumps, and applies notifications until an error or
// the end of ctx. healthy reports that the dump after subscribing worked,
// so that the caller's backoff starts over.
func (s *NetlinkSource) session(ctx context.Context) (healthy bool, err error) {
	// Subscribe before dumping: a change between the two is then both in
	// the dump and queued, and applying it twice is harmless.
	dl, err := s.k.subscribeDevlink(s.fam)
	if err != nil {
		return false, fmt.Errorf("joining the devlink config group: %w", err)
	}
	in := make(chan received)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		wg.Wait()
	}()
	wg.Go(func() { pump(dl, false, in, stop) })
	defer dl.close()
	if links, err := s.k.subscribeLinks(); err != nil {
		s.log.Warn("not watching netdev renames; relying on devlink notifications and resync", "err", err)
	} else {
		wg.Go(func() { pump(links, true, in, stop) })
		defer links.close()
	}
	if err := s.resync(); err != nil {
		return false, err
	}

	var tick <-chan time.Time
	if s.opts.resyncInterval > 0 {
		t := time.NewTicker(s.opts.resyncInterval)
		defer t.Stop()
		tick = t.C
	}
	var soon *time.Timer // a pending dump after renames
	var soonC <-chan time.Time
	defer func() {
		if soon != nil {
			soon.Stop()
		}
	}()
	for {
		needDump := false
		select {
		case <-ctx.Done():
			return true, nil
		case <-tick:
			needDump = true
		case <-soonC:
			soon, soonC, needDump = nil, nil, true
		case r := <-in:
			switch {
			case errors.Is(r.err, errOverrun):
				s.log.Warn("netlink notifications lost; dumping devlink ports again", "err", r.err, "links", r.links)
				needDump = true
			case r.err != nil:
				return true, fmt.Errorf("receiving notifications: %w", r.err)
			case r.links:
				if s.handleLinks(r.data) && soon == nil {
					soon = time.NewTimer(renameSettle)
					soonC = soon.C
				}
			default:
				needDump = s.handleDevlink(r.data)
			}
		}
		if needDump {
			if err := s.resync(); err != nil {
				return true, err
			}
			if soon != nil { // this dump already has the renames
				soon.Stop()
				soon, soonC = nil, nil
			}
		}
	}
}

// pump forwards n's datagrams until stop closes; it stops reading at the
// first error other than an overrun (which leaves the socket usable).
func pump(n notifier, links bool, in chan<- received, stop <-chan struct{}) {
	for {
		data, err := n.receive()
		select {
		case in <- received{links: links, data: data, err: err}:
		case <-stop:
			return
		}
		if err != nil && !errors.Is(err, errOverrun) {
			return
		}
	}
}

// resync replaces the table with a full dump. A port message that does not
// decode is skipped with a warning rather than failing the whole dump.
func (s *NetlinkSource) resync() error {
	payloads, err := s.k.dumpPorts(s.fam)
	if err != nil {
		return fmt.Errorf("dumping devlink ports: %w", err)
	}
	msgs, errs := decodeDump(payloads)
	for _, err := range errs {
		s.log.Warn("skipping a devlink port the dump could not decode", "err", err)
	}
	ports := make([]Port, len(msgs))
	for i, m := range msgs {
		ports[i] = m.Port
		s.remember(m)
	}
	s.table.Replace(ports)
	if !s.dumped {
		s.dumped = true
		s.log.Info("loaded devlink ports from netlink", "ports", len(ports), "pfs", len(s.table.KnownPFs()))
	} else {
		s.log.Debug("devlink ports dumped", "ports", len(ports))
	}
	return nil
}

// decodeDump decodes the payloads of a port dump's replies.
func decodeDump(payloads [][]byte) ([]portMessage, []error) {
	var msgs []portMessage
	var errs []error
	for _, p := range payloads {
		cmd, attrs, err := decodeGenlHeader(p)
		if err == nil {
			var m portMessage
			m, err = decodePortMessage(cmd, attrs)
			if err == nil && !m.Del {
				msgs = append(msgs, m)
				continue
			}
			if err == nil {
				err = errors.New("a port dump reply says PORT_DEL")
			}
		}
		errs = append(errs, err)
	}
	return msgs, errs
}

// handleDevlink applies one datagram from the config group and reports
// whether the table needs a dump because a message did not decode.
func (s *NetlinkSource) handleDevlink(data []byte) (needDump bool) {
	msgs, err := splitMessages(data)
	if err != nil {
		s.log.Warn("undecodable devlink notification; dumping ports again", "err", err)
		return true
	}
	for _, nm := range msgs {
		if nm.Type != s.fam.id {
			continue // NLMSG_NOOP and the like
		}
		cmd, attrs, err := decodeGenlHeader(nm.Payload)
		if err == nil && cmd != devlinkCmdPortNew && cmd != devlinkCmdPortSet && cmd != devlinkCmdPortDel {
			continue // devices, params, health, traps...: not ports
		}
		var m portMessage
		if err == nil {
			m, err = decodePortMessage(cmd, attrs)
		}
		if err != nil {
			s.log.Warn("undecodable devlink notification; dumping ports again", "err", err)
			needDump = true
			continue
		}
		s.apply(m)
	}
	return needDump
}

func (s *NetlinkSource) apply(m portMessage) {
	p := m.Port
	if m.Del {
		s.log.Debug("devlink port deleted", "port", p.Handle())
		s.table.Delete(p.Handle())
		return
	}
	s.log.Debug("devlink port notified", "port", p.Handle(), "flavour", p.Flavour, "netdev", p.Netdev)
	s.table.Upsert(p)
	s.remember(m)
}

// remember records the netdev name devlink gave for an ifindex, so that an
// RTM_NEWLINK under another name is recognised as a rename.
func (s *NetlinkSource) remember(m portMessage) {
	if m.IfIndex != 0 && m.Port.Netdev != "" {
		s.names[m.IfIndex] = m.Port.Netdev
	}
}

// handleLinks follows netdev names from rtnetlink and reports whether one
// that devlink (or an earlier RTM_NEWLINK) knew under another name was
// renamed. Kernels before 6.2 send no devlink notification on a rename,
// and the order between the two sockets is not defined, so a rename is
// resolved by a dump rather than by patching the table.
func (s *NetlinkSource) handleLinks(data []byte) (renamed bool) {
	msgs, err := splitMessages(data)
	if err != nil {
		s.log.Debug("ignoring an undecodable link notification", "err", err)
		return false
	}
	for _, nm := range msgs {
		if nm.Type != rtmNewLink && nm.Type != rtmDelLink {
			continue
		}
		index, name, err := decodeLinkMessage(nm.Payload)
		if err != nil {
			s.log.Debug("ignoring an undecodable link notification", "err", err)
			continue
		}
		if nm.Type == rtmDelLink {
			delete(s.names, index)
			continue
		}
		if old, ok := s.names[index]; ok && old != name {
			s.log.Info("netdev renamed; dumping devlink ports", "ifindex", index, "old", old, "new", name)
			renamed = true
		}
		s.names[index] = name
	}
	return renamed
}
