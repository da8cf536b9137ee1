package testbed

import (
	"context"
	"os/exec"
	"path/filepath"
)

// adminSocket is the --admin-socket StartDPUAgent gives the bed's DPU
// agent: one per bed, so that beds never share the default
// /run/ovn-dpu/dpu-agent.sock.
func (b *Bed) adminSocket() string { return filepath.Join(b.Dir, "admin.sock") }

// PortsCommand is `ovn-dpu-agent ports --admin-socket=<the agent's> args...`,
// ready to run or start from the test's own namespace (a unix socket is
// reached through the file system, whatever the network namespace).
func (a *DPUAgent) PortsCommand(ctx context.Context, args ...string) (*exec.Cmd, error) {
	bin, err := Binary("ovn-dpu-agent")
	if err != nil {
		return nil, err
	}
	return exec.CommandContext(ctx, bin, append([]string{"ports", "--admin-socket=" + a.AdminSocket}, args...)...), nil
}

// AttachmentsCommand is `ovn-dpu-host-agent attachments --socket=<the
// agent's> args...`.
func (h *HostAgent) AttachmentsCommand(ctx context.Context, args ...string) (*exec.Cmd, error) {
	bin, err := Binary("ovn-dpu-host-agent")
	if err != nil {
		return nil, err
	}
	return exec.CommandContext(ctx, bin, append([]string{"attachments", "--socket=" + h.Socket}, args...)...), nil
}
