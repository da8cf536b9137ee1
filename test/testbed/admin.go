package testbed

import (
	"context"
	"os/exec"
	"path/filepath"
)

// adminSocket is the --admin-socket StartDPUAgent gives a DPU's agent:
// one per DPU of each bed, so that agents never share the default
// /run/ovn-dpu/dpu-agent.sock.
func (d *dpuSide) adminSocket() string { return filepath.Join(d.dir, "admin.sock") }

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
