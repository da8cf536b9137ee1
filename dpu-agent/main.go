// Command ovn-dpu-agent runs on the DPU: it plugs the representors OVN asks
// for into br-int and streams each port's status. See DESIGN.md.
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
	fs := flag.NewFlagSet("ovn-dpu-agent", flag.ExitOnError)
	fs.String("sb", "", "OVN Southbound remotes, comma-separated (unix:, tcp:, ssl:)")
	fs.String("ovs", "unix:/var/run/openvswitch/db.sock", "local Open_vSwitch database")
	fs.String("sysfs-root", "/sys", "sysfs root (zero hw_addr PF MAC fallback)")
	fs.String("chassis", "", "OVN chassis name (default: OVS external_ids:system-id)")
	fs.String("bridge", "br-int", "integration bridge")
	fs.String("listen", ":50151", "gRPC listen address")
	fs.String("devlink-dump", "", "read devlink ports from this `devlink -j port show` JSON file instead of netlink")
	fs.String("plugger", "agent", "who plugs representors: agent or ovn-controller")
	showVersion := fs.Bool("version", false, "print the version and exit")
	_ = fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	slog.Info("ovn-dpu-agent started (skeleton)", "version", version.Version)
	<-ctx.Done()
	slog.Info("ovn-dpu-agent stopping")
}
