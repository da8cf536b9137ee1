package netns

import (
	"bytes"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// move is a change of namespace and name as one undoable step; its
// inverse is the single move back under the old name.
func (t *txn) move(src place, name string, dst place, newName string) error {
	return t.step(fmt.Sprintf("move %q to %s, from %s as %q", newName, dst.desc, src.desc, name),
		func() error { return moveTo(src, name, dst, newName) },
		func() error { return moveTo(dst, newName, src, name) })
}

// moveTo moves the link called name in src into dst, where it is called
// newName, with one RTM_NEWLINK carrying both IFLA_NET_NS_FD and
// IFLA_IFNAME: a namespace move waits under RTNL, and a detour through a
// temporary namespace doubled the waits. The kernel moves the link and,
// under the same RTNL hold, renames it in dst; when only its current name
// is taken in dst it takes newName on the way in, so the clash a rename in
// a temporary namespace used to sidestep (eth0 at home) does not arise,
// and with both names taken nothing moves. When newName is taken in
// dst, the kernel has moved the link all the same, under its old name,
// before failing with EEXIST; moveTo then moves it back, so that on error
// the link is where it was, and reports ErrNameTaken.
func moveTo(src place, name string, dst place, newName string) error {
	id, err := sendMove(src, name, dst, newName)
	switch {
	case err == nil && name == newName:
		return nil
	case err == nil:
		return settle(src, name, dst, newName, id)
	case errors.Is(err, unix.EEXIST):
		return refused(src, name, dst, newName, id, err)
	}
	return err
}

// identity tells our link from another of the same name in the same
// namespace. The MAC does: it stays across a move, and two links of one
// MAC in a namespace would clash on the wire too. The index does not,
// since a move gives the link a new one when the target has its old one
// in use (by another link, which would then pass for ours); it decides
// only for a link without a MAC.
type identity struct {
	index int
	mac   net.HardwareAddr
}

func (id identity) is(l netlink.Link) bool {
	if len(id.mac) == 0 {
		return l.Attrs().Index == id.index
	}
	return bytes.Equal(l.Attrs().HardwareAddr, id.mac)
}

// sendMove sends the move request from inside src, which is where the
// link's index means the link.
func sendMove(src place, name string, dst place, newName string) (identity, error) {
	var id identity
	err := withLink(src, name, func(l netlink.Link) error {
		id = identity{index: l.Attrs().Index, mac: append(net.HardwareAddr(nil), l.Attrs().HardwareAddr...)}
		req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(id.index)
		req.AddData(msg)
		req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(dst.ns.Fd()))))
		req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(newName)))
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	})
	return id, err
}

// settle checks that a move the kernel acknowledged also renamed the
// link. Every kernel with IFLA_NET_NS_FD does; should one move it under
// its old name without an error, it is renamed in dst, in place: no
// temporary namespace is needed for that, since the link is down there
// (a move closes it), as kernels before 6.2 require for a rename, and
// udev and NetworkManager at home see what they see after every move
// that renames, the link arriving under its old name and renamed. A name
// taken in dst sends it back, as refused does.
func settle(src place, name string, dst place, newName string, id identity) error {
	at, err := findIn(dst, id, newName, name)
	switch {
	case err != nil:
		return fmt.Errorf("look for it in %s after the move: %w", dst.desc, err)
	case at == newName:
		return nil
	case at == "":
		return fmt.Errorf("%w: moved to %s, but it is there neither as %q nor as %q", ErrLinkNotFound, dst.desc, newName, name)
	}
	err = renameLink(dst, name, newName)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("moved to %s as %q, not renamed; rename it there: %w", dst.desc, name, nameErr(err, newName, dst))
	if _, backErr := sendMove(dst, name, src, name); backErr != nil {
		return fmt.Errorf("%w; moving it back to %s failed, it is left in %s: %w", err, src.desc, dst.desc, backErr)
	}
	return fmt.Errorf("%w (moved back to %s)", err, src.desc)
}

// refused sorts out an EEXIST: either nothing moved (newName and the
// link's current name are both taken in dst), or the link is in dst
// under its old name, moved but not renamed, and is moved back.
func refused(src place, name string, dst place, newName string, id identity, cause error) error {
	taken := nameErr(cause, newName, dst)
	if at, err := findIn(src, id, name); err != nil || at != "" {
		return errors.Join(taken, err) // still in src: nothing moved
	}
	at, err := findIn(dst, id, name)
	if err != nil || at == "" {
		return fmt.Errorf("%w; the link left %s but is not in %s as %q: %w", taken, src.desc, dst.desc, name,
			errors.Join(ErrLinkNotFound, err))
	}
	if _, err := sendMove(dst, name, src, name); err != nil {
		return fmt.Errorf("%w; the kernel moved it there as %q nonetheless, and moving it back failed: %w", taken, name, err)
	}
	return fmt.Errorf("%w (the kernel moved it there as %q nonetheless; moved back)", taken, name)
}

// nameErr names the clash an EEXIST from a rename or move means.
func nameErr(err error, name string, p place) error {
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%w: %q in %s: %w", ErrNameTaken, name, p.desc, err)
	}
	return err
}

// findIn returns the first of names under which p has the link id, ""
// if none.
func findIn(p place, id identity, names ...string) (string, error) {
	var found string
	err := p.do(func() error {
		for _, n := range names {
			l, err := linkByName(n)
			if errors.Is(err, ErrLinkNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if id.is(l) {
				found = n
				return nil
			}
		}
		return nil
	})
	return found, err
}

func (t *txn) rename(p place, from, to string) error {
	if from == to {
		return nil
	}
	return t.step(fmt.Sprintf("rename %q to %q in %s", from, to, p.desc),
		func() error { return nameErr(renameLink(p, from, to), to, p) },
		func() error { return nameErr(renameLink(p, to, from), from, p) })
}

// setAlias changes the alias of the link from what it is, from, to alias.
func (t *txn) setAlias(p place, name, from, alias string) error {
	if from == alias {
		return nil
	}
	return t.step(fmt.Sprintf("set alias of %q to %q in %s", name, alias, p.desc),
		func() error { return setAlias(p, name, alias) },
		func() error { return setAlias(p, name, from) })
}

func (t *txn) setDown(p place, name string) error {
	return t.step(fmt.Sprintf("set %q down in %s", name, p.desc),
		func() error { return setUp(p, name, false) },
		func() error { return setUp(p, name, true) })
}
