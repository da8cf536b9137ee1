// Command ovn-dpu-agent runs on the DPU: it plugs the representors OVN asks
// for into br-int and streams each port's status. See DESIGN.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/ovn-dpu/ovn-dpu/pkg/dpuagent"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/conn"
	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
	"github.com/ovn-dpu/ovn-dpu/pkg/version"
)

type flags struct {
	sb, ovs, sysfsRoot, chassis, bridge, listen, devlinkDump, plugger, logLevel string
	insecure                                                                    bool
	representorWait                                                             time.Duration
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("ovn-dpu-agent", flag.ContinueOnError)
	fs.StringVar(&f.sb, "sb", "", "OVN Southbound remotes, comma-separated (unix:, tcp:, ssl:)")
	fs.StringVar(&f.ovs, "ovs", "unix:/var/run/openvswitch/db.sock", "local Open_vSwitch database")
	fs.StringVar(&f.sysfsRoot, "sysfs-root", "/sys", "sysfs root (zero hw_addr PF MAC fallback)")
	fs.StringVar(&f.chassis, "chassis", "", "OVN chassis name (default: OVS external_ids:system-id)")
	fs.StringVar(&f.bridge, "bridge", "br-int", "integration bridge")
	fs.StringVar(&f.listen, "listen", ":50151", "gRPC listen address: HOST:PORT or unix:PATH")
	fs.StringVar(&f.devlinkDump, "devlink-dump", "", "read devlink ports from this `devlink -j port show` JSON file (re-read on change) instead of netlink")
	fs.StringVar(&f.plugger, "plugger", "agent", "who plugs representors: agent, or ovn-controller (observe only)")
	fs.BoolVar(&f.insecure, "insecure", false, "serve gRPC without TLS")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&f.representorWait, "representor-wait", 5*time.Second,
		"how long a port whose representor is missing stays PENDING before ERROR")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if *showVersion {
		fmt.Println(version.Version)
		os.Exit(0)
	}
	if !f.insecure {
		return f, errors.New("mTLS is not available in this build: run with --insecure")
	}
	return f, nil
}

func main() {
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ovn-dpu-agent:", err)
		os.Exit(2)
	}
	log, err := newLogger(f.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ovn-dpu-agent:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, f, log); err != nil {
		log.Error("ovn-dpu-agent failed", "err", err)
		os.Exit(1)
	}
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func run(ctx context.Context, f flags, log *slog.Logger) error {
	sb, err := conn.ParseRemotes(f.sb)
	if err != nil {
		return fmt.Errorf("--sb: %w", err)
	}
	store := portstatus.NewStore(portstatus.WithLogger(log))
	agent, err := dpuagent.New(dpuagent.Config{
		SBRemotes: sb, OVSRemote: f.ovs, Chassis: f.chassis, Bridge: f.bridge,
		Plugger: dpuagent.Plugger(f.plugger), SysfsRoot: f.sysfsRoot, DevlinkDump: f.devlinkDump,
	}, store, dpuagent.WithLogger(log), dpuagent.WithRepresentorWait(f.representorWait))
	if err != nil {
		return err
	}
	lis, err := listen(f.listen)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	agent.Register(srv)
	go func() {
		if err := srv.Serve(lis); err != nil {
			log.Error("gRPC server stopped", "err", err)
		}
	}()
	log.Info("ovn-dpu-agent serving", "version", version.Version, "listen", lis.Addr().String())
	err = agent.Run(ctx)
	srv.Stop()
	return err
}

// listen opens HOST:PORT or unix:PATH; a unix socket left by a previous
// run is replaced.
func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--listen %s: %w", addr, err)
		}
		lis, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("--listen %s: %w", addr, err)
		}
		return lis, os.Chmod(path, 0o600)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", addr, err)
	}
	return lis, nil
}
