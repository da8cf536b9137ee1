package statuscmd

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/ovn-dpu/ovn-dpu/pkg/cmdutil"
)

// DefaultDPUAdminSocket is where ovn-dpu-agent serves its status commands
// (its --admin-socket, and `ovn-dpu-agent ports --admin-socket`).
const DefaultDPUAdminSocket = "/run/ovn-dpu/dpu-agent.sock"

// ListenAdmin opens the unix socket path for a read-only admin API: its
// directory is created (0700) when missing, the socket is mode 0600 and
// only root or this process's user may use it (cmdutil.RootPeersOnly).
func ListenAdmin(path string, log *slog.Logger) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("--admin-socket %s: %w", path, err)
	}
	lis, err := cmdutil.Listen("unix:" + path)
	if err != nil {
		return nil, fmt.Errorf("--admin-socket: %w", err)
	}
	return cmdutil.RootPeersOnly(lis, log), nil
}
