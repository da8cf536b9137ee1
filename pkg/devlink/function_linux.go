package devlink

import (
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// request sends a devlink request and waits for the kernel's ack; the
// error is the kernel's errno (a syscall.Errno) when it refused.
func (netlinkKernel) request(f devlinkFamily, payload []byte) error {
	req := nl.NewNetlinkRequest(int(f.id), unix.NLM_F_ACK) // NLM_F_REQUEST is always set
	req.AddRawData(payload)
	_, err := req.Execute(unix.NETLINK_GENERIC, 0)
	return err
}
