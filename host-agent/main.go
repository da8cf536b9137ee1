// Command ovn-dpu-host-agent runs on the host: it serves the CNI plugin on a
// unix socket, writes Logical_Switch_Port requests to OVN NB, moves VFs into
// pods and waits for the DPU agent's verdict. See DESIGN.md.
//
// This build parses its flags and waits for SIGTERM; the attach loop lands
// with the host agent issue.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ovn-dpu/ovn-dpu/pkg/version"
)

func main() {
	fs := flag.NewFlagSet("ovn-dpu-host-agent", flag.ExitOnError)
	hostname, _ := os.Hostname()
	fs.String("nb", "", "OVN Northbound remotes, comma-separated (unix:, tcp:, ssl:)")
	fs.String("dpu", "", "address of the DPU agent's gRPC listener")
	fs.String("socket", "/run/ovn-dpu/host-agent.sock", "unix socket the CNI plugin connects to (mode 0600)")
	fs.String("sysfs-root", "/sys", "sysfs root for VF lookup")
	fs.String("state-dir", "/var/lib/ovn-dpu", "per-attachment state, kept across restarts")
	fs.String("node-name", hostname, "this host's name, written as ovn-dpu:owner")
	showVersion := fs.Bool("version", false, "print the version and exit")
	_ = fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	slog.Info("ovn-dpu-host-agent started (skeleton)", "version", version.Version)
	<-ctx.Done()
	slog.Info("ovn-dpu-host-agent stopping")
}
