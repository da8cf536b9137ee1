// Command ovn-dpu-host-agent runs on the host: it serves the CNI plugin on a
// unix socket, writes Logical_Switch_Port requests to OVN NB, moves VFs into
// pods and waits for the DPU agent's verdict. Flags: docs/contract.md.
// `ovn-dpu-host-agent attachments` asks the running agent for its
// attachments' status (docs/status.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/ovn-dpu/ovn-dpu/pkg/cmdutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/hostagent"
	"github.com/ovn-dpu/ovn-dpu/pkg/metricsserver"
	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/conn"
	"github.com/ovn-dpu/ovn-dpu/pkg/statuscmd"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/version"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

type flags struct {
	nb, dpu, socket, sysfsRoot, stateDir, node, metrics, logLevel string
	probeInterval                                                 time.Duration
	tls                                                           cmdutil.TLSFlags
	keepalive                                                     cmdutil.KeepaliveFlags
}

func parseFlags(args []string) (flags, error) {
	var f flags
	hostname, _ := os.Hostname()
	fs := flag.NewFlagSet("ovn-dpu-host-agent", flag.ContinueOnError)
	fs.StringVar(&f.nb, "nb", "", "OVN Northbound remotes, comma-separated (unix:, tcp:, ssl:)")
	fs.StringVar(&f.dpu, "dpu", "", "address of the DPU agent's gRPC listener (HOST:PORT or unix:PATH); "+
		"comma-separated, one per DPU, for a host with several DPUs")
	fs.StringVar(&f.socket, "socket", netconf.DefaultAgentSocket, "unix socket the CNI plugin connects to (mode 0600)")
	fs.StringVar(&f.sysfsRoot, "sysfs-root", sysfs.DefaultRoot, "sysfs root for VF lookup")
	fs.StringVar(&f.stateDir, "state-dir", hostagent.DefaultStateDir, "per-attachment state, kept across restarts")
	fs.StringVar(&f.node, "node-name", hostname, "this host's name, written as "+vifplug.ExtOwner)
	fs.StringVar(&f.metrics, "metrics", "", "address serving /metrics, /healthz and /readyz (empty: off)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
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
	if _, err := dpuAddresses(f.dpu); err != nil {
		return f, err
	}
	return f, f.keepalive.Validate()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == statuscmd.AttachmentsCommand {
		os.Exit(statuscmd.RunAttachments(os.Args[2:], os.Stdout, os.Stderr))
	}
	f, err := parseFlags(os.Args[1:])
	cmdutil.Main("ovn-dpu-host-agent", err, f.logLevel, func(ctx context.Context, log *slog.Logger) error { return run(ctx, f, log) })
}

func run(ctx context.Context, f flags, log *slog.Logger) error {
	nb, err := conn.ParseRemotes(f.nb)
	if err != nil {
		return fmt.Errorf("--nb: %w", err)
	}
	nbTLS, nbReloader, err := f.tls.OVSDBTLS(nb, log)
	if err != nil {
		return err
	}
	creds, grpcReloader, err := tlsutil.ClientCredentials(f.tls.GRPC, f.tls.Insecure, "", tlsutil.WithLogger(log))
	if err != nil {
		return err
	}
	if err := checkNodeIdentity(f, grpcReloader); err != nil {
		return err
	}
	for _, r := range []*tlsutil.Reloader{nbReloader, grpcReloader} {
		go func() { _ = r.Run(ctx) }()
	}
	addrs, _ := dpuAddresses(f.dpu) // checked by parseFlags
	var dpuConns []grpc.ClientConnInterface
	for _, addr := range addrs {
		conn, err := grpc.NewClient(addr, append(f.keepalive.DialOptions(), grpc.WithTransportCredentials(creds))...)
		if err != nil {
			return fmt.Errorf("--dpu %s: %w", addr, err)
		}
		defer conn.Close()
		dpuConns = append(dpuConns, conn)
	}
	agent, err := hostagent.New(hostagent.Config{NBRemotes: nb, NBTLS: nbTLS, Node: f.node,
		SysfsRoot: f.sysfsRoot, StateDir: f.stateDir, NBProbeInterval: f.probeInterval}, hostagent.WithDPUConn(dpuConns...), hostagent.WithLogger(log))
	if err != nil {
		return err
	}
	if err := metricsserver.Start(ctx, f.metrics, agent.Register, agent.Ready, log); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.socket), 0o700); err != nil {
		return fmt.Errorf("--socket %s: %w", f.socket, err)
	}
	lis, err := cmdutil.Listen("unix:" + f.socket)
	if err != nil {
		return err
	}
	lis = cmdutil.RootPeersOnly(lis, log)
	srv := grpc.NewServer(hostagent.ServerOptions()...)
	ovndpuv1.RegisterHostAgentServer(srv, agent)
	agent.RegisterAdmin(srv) // read-only: `ovn-dpu-host-agent attachments`
	log.Info("ovn-dpu-host-agent serving", "version", version.Version, "socket", f.socket, "dpu", f.dpu, "node", f.node)
	return cmdutil.Serve(ctx, srv, lis, agent.Run)
}

// dpuAddresses splits --dpu: one address per DPU, none twice.
func dpuAddresses(flag string) ([]string, error) {
	var addrs []string
	for _, a := range strings.Split(flag, ",") {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
			return nil, fmt.Errorf("--dpu %q: want the DPU agents' addresses (HOST:PORT or unix:PATH), comma-separated, none empty", flag)
		case slices.Contains(addrs, a):
			return nil, fmt.Errorf("--dpu %q names %s twice", flag, a)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// checkNodeIdentity refuses a --tls-cert that does not name --node-name: the
// DPU agent serves a host only the ports its certificate's identity owns
// (docs/contract.md "TLS"), so with another name this agent could never see
// its own ports. r is nil with --insecure, which has no identity to check.
func checkNodeIdentity(f flags, r *tlsutil.Reloader) error {
	if f.tls.Insecure || r == nil {
		return nil
	}
	if err := tlsutil.CheckIdentity(r.Certificate().Leaf, f.node); err != nil {
		return fmt.Errorf("--tls-cert %s does not name --node-name %q: %w", f.tls.GRPC.Cert, f.node, err)
	}
	return nil
}
