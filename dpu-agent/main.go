// Command ovn-dpu-agent runs on the DPU: it plugs the representors OVN asks
// for into br-int and streams each port's status. Flags: docs/contract.md.
// `ovn-dpu-agent ports` asks the running agent for its ports' status
// (docs/status.md).
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/ovn-dpu/ovn-dpu/pkg/cmdutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/dpuagent"
	"github.com/ovn-dpu/ovn-dpu/pkg/metricsserver"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/conn"
	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
	"github.com/ovn-dpu/ovn-dpu/pkg/statuscmd"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/version"
)

type flags struct {
	sb, ovs, sysfsRoot, chassis, bridge, listen, devlinkDump, plugger, logLevel, metrics string
	adminSocket, hosts                                                                   string
	representorWait                                                                      time.Duration
	setFunctionMAC                                                                       bool
	probeInterval                                                                        time.Duration
	tls                                                                                  cmdutil.TLSFlags
	keepalive                                                                            cmdutil.KeepaliveFlags
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("ovn-dpu-agent", flag.ContinueOnError)
	fs.StringVar(&f.sb, "sb", "", "OVN Southbound remotes, comma-separated (unix:, tcp:, ssl:)")
	fs.StringVar(&f.ovs, "ovs", dpuagent.DefaultOVSRemote, "local Open_vSwitch database")
	fs.StringVar(&f.sysfsRoot, "sysfs-root", sysfs.DefaultRoot, "sysfs root (zero hw_addr PF MAC fallback)")
	fs.StringVar(&f.chassis, "chassis", "", "OVN chassis name (default: OVS external_ids:system-id)")
	fs.StringVar(&f.bridge, "bridge", dpuagent.DefaultBridge, "integration bridge")
	fs.StringVar(&f.listen, "listen", ":50151", "gRPC listen address: HOST:PORT or unix:PATH")
	fs.StringVar(&f.devlinkDump, "devlink-dump", "", "read devlink ports from this `FILE` (the JSON 'devlink -j port show' prints), re-read when it changes, instead of netlink")
	fs.StringVar(&f.plugger, "plugger", "agent", "who plugs representors: agent, or ovn-controller (observe only)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.metrics, "metrics", "", "address serving /metrics, /healthz and /readyz (empty: off)")
	fs.StringVar(&f.adminSocket, "admin-socket", statuscmd.DefaultDPUAdminSocket,
		"unix socket (mode 0600) serving the read-only status commands ('ovn-dpu-agent ports'); empty: off")
	fs.StringVar(&f.hosts, "hosts", "", "for a DPU serving several hosts (multi-host NIC): `NAME=CONTROLLER,...` maps each host's "+
		"certificate identity to its devlink controller; each host then sees only its own PFs and ports, and gets a "+
		"representor plugged only for an attachment it claimed (needs mutual TLS)")
	fs.BoolVar(&f.setFunctionMAC, "set-function-mac", false,
		"before plugging a VF's representor, set its devlink port function hw_addr to the logical port's MAC "+
			"(NICs whose host cannot set VF MACs, e.g. BlueField in restricted host mode); hosts then leave the VF's MAC alone")
	fs.DurationVar(&f.representorWait, "representor-wait", dpuagent.DefaultRepresentorWait,
		"how long a port whose representor is missing stays PENDING before ERROR")
	fs.DurationVar(&f.probeInterval, "ovsdb-probe-interval", conn.DefaultProbeInterval,
		"echo OVSDB servers this often; one silent that long is left for the next remote")
	f.tls.Register(fs)
	f.keepalive.Register(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if *showVersion {
		fmt.Println(version.Version)
		os.Exit(0)
	}
	return f, f.keepalive.Validate()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == statuscmd.PortsCommand {
		os.Exit(statuscmd.RunPorts(os.Args[2:], os.Stdout, os.Stderr))
	}
	f, err := parseFlags(os.Args[1:])
	cmdutil.Main("ovn-dpu-agent", err, f.logLevel, func(ctx context.Context, log *slog.Logger) error { return run(ctx, f, log) })
}

func run(ctx context.Context, f flags, log *slog.Logger) error {
	cfg, reloaders, err := agentConfig(f, log)
	if err != nil {
		return err
	}
	creds, grpcTLS, err := tlsutil.ServerCredentials(f.tls.GRPC, f.tls.Insecure, tlsutil.WithLogger(log))
	if err != nil {
		return err
	}
	for _, r := range append(reloaders, grpcTLS) {
		go func() { _ = r.Run(ctx) }() // nil-safe: insecure mode has no reloader
	}
	store := portstatus.NewStore(portstatus.WithLogger(log))
	opts := []dpuagent.Option{dpuagent.WithLogger(log), dpuagent.WithRepresentorWait(f.representorWait),
		dpuagent.WithProbeInterval(f.probeInterval)}
	if !f.tls.Insecure {
		opts = append(opts, dpuagent.WithPeerIdentity(tlsutil.PeerIdentity))
	}
	agent, err := dpuagent.New(cfg, store, opts...)
	if err != nil {
		return err
	}
	if err := metricsserver.Start(ctx, f.metrics, agent.Register, agent.Ready, log); err != nil {
		return err
	}
	lis, err := cmdutil.Listen(f.listen)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(append(f.keepalive.ServerOptions(), grpc.Creds(creds))...)
	agent.RegisterGRPC(srv, watchScope(f.tls.Insecure)...)
	runAll := agent.Run
	if f.adminSocket != "" {
		adminLis, err := statuscmd.ListenAdmin(f.adminSocket, log)
		if err != nil {
			lis.Close()
			return err
		}
		admin := grpc.NewServer()
		agent.RegisterAdmin(admin)
		runAll = func(ctx context.Context) error { return cmdutil.Serve(ctx, admin, adminLis, agent.Run) }
	}
	log.Info("ovn-dpu-agent serving", "version", version.Version, "listen", lis.Addr().String(), "tls", !f.tls.Insecure,
		"admin_socket", f.adminSocket, "hosts", cfg.Hosts.String())
	return cmdutil.Serve(ctx, srv, lis, runAll)
}

func agentConfig(f flags, log *slog.Logger) (dpuagent.Config, []*tlsutil.Reloader, error) {
	sb, err := conn.ParseRemotes(f.sb)
	if err != nil {
		return dpuagent.Config{}, nil, fmt.Errorf("--sb: %w", err)
	}
	ovs, err := conn.ParseRemotes(f.ovs)
	if err != nil {
		return dpuagent.Config{}, nil, fmt.Errorf("--ovs: %w", err)
	}
	var reloaders []*tlsutil.Reloader
	tlsFor := func(remotes []string) (*tls.Config, error) {
		cfg, r, err := f.tls.OVSDBTLS(remotes, log)
		reloaders = append(reloaders, r)
		return cfg, err
	}
	cfg := dpuagent.Config{SBRemotes: sb, OVSRemote: ovs[0], Chassis: f.chassis, Bridge: f.bridge,
		Plugger: dpuagent.Plugger(f.plugger), SysfsRoot: f.sysfsRoot, DevlinkDump: f.devlinkDump,
		SetFunctionMAC: f.setFunctionMAC}
	if cfg.Hosts, err = dpuagent.ParseHosts(f.hosts); err != nil {
		return cfg, nil, err
	}
	if cfg.SBTLS, err = tlsFor(sb); err != nil {
		return cfg, nil, err
	}
	if cfg.OVSTLS, err = tlsFor(ovs); err != nil {
		return cfg, nil, err
	}
	return cfg, reloaders, nil
}

// watchScope is how WatchPorts is scoped: with mutual TLS each host sees
// only the ports its certificate's identity owns (docs/contract.md "TLS");
// --insecure trusts the request's node filter.
func watchScope(insecure bool) []portstatus.Option {
	if insecure {
		return nil
	}
	return []portstatus.Option{portstatus.WithIdentity(tlsutil.PeerIdentity)}
}
