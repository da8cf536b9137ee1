package statuscmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Subcommand names, the first argument of each binary.
const (
	PortsCommand       = "ports"       // ovn-dpu-agent ports
	AttachmentsCommand = "attachments" // ovn-dpu-host-agent attachments
)

// Exit codes: 0 done, 1 the daemon could not answer, 2 bad usage.
const (
	exitFailed = 1
	exitUsage  = 2
)

// common are the flags both commands take.
type common struct {
	socket  string
	output  string
	watch   bool
	timeout time.Duration
}

func (c *common) register(fs *flag.FlagSet, socketFlag, socketDefault, daemon string) {
	fs.StringVar(&c.socket, socketFlag, socketDefault, "unix socket of the running "+daemon)
	fs.StringVar(&c.output, "o", "table", "output format: table or json")
	fs.BoolVar(&c.watch, "watch", false, "keep running and print again on every change")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "give up on the daemon after this long (not with --watch)")
}

func (c *common) validate() error {
	if c.output != "table" && c.output != "json" {
		return fmt.Errorf("-o %q: want table or json", c.output)
	}
	return nil
}

// RunPorts runs `ovn-dpu-agent ports [flags]` and returns its exit code.
func RunPorts(args []string, stdout, stderr io.Writer) int {
	var c common
	var why string
	fs := flag.NewFlagSet("ovn-dpu-agent "+PortsCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, "admin-socket", DefaultDPUAdminSocket, "ovn-dpu-agent (its --admin-socket)")
	fs.StringVar(&why, "why", "", "explain one `LOGICAL_PORT`: what SB asks, the representor table, OVS, and what it waits for")
	if code, ok := parse(fs, args, &c); !ok {
		return code
	}
	if why != "" && c.watch {
		fmt.Fprintln(stderr, "ovn-dpu-agent ports: --why and --watch do not go together")
		return exitUsage
	}
	d := daemon{name: "ovn-dpu-agent", socket: c.socket}
	return d.run(stderr, c, func(ctx context.Context, conn *grpc.ClientConn) error {
		api := ovndpuv1.NewDPUAdminClient(conn)
		if why != "" {
			resp, err := api.Why(ctx, &ovndpuv1.WhyRequest{LogicalPort: why})
			if err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(stdout, WhyOf(resp))
			}
			return WriteWhy(stdout, WhyOf(resp))
		}
		return watchPorts(ctx, api, c, stdout)
	})
}

// watchPorts prints the snapshot, then, with --watch, the whole table
// again on every change the stream brings.
func watchPorts(ctx context.Context, api ovndpuv1.DPUAdminClient, c common, stdout io.Writer) error {
	stream, err := api.Ports(ctx, &ovndpuv1.PortsRequest{Watch: c.watch})
	if err != nil {
		return err
	}
	ports := map[string]Port{}
	synced := false
	show := func() error {
		rows := make([]Port, 0, len(ports))
		for _, k := range slices.Sorted(maps.Keys(ports)) {
			rows = append(rows, ports[k])
		}
		if c.output == "json" {
			return writeJSON(stdout, Ports{Ports: rows})
		}
		return WritePortsTable(stdout, rows, time.Now())
	}
	first := true
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) && synced && !c.watch {
			return nil
		}
		if err != nil {
			return err
		}
		if p := ev.GetPort(); p != nil {
			row := PortOf(p)
			if cur, ok := ports[row.LogicalPort]; ok && cur.Generation > row.Generation {
				continue
			}
			if row.Phase == "UNPLUGGED" {
				delete(ports, row.LogicalPort)
			} else {
				ports[row.LogicalPort] = row
			}
			if !synced {
				continue
			}
		} else if ev.GetSnapshotComplete() != nil {
			synced = true
		}
		if !first && c.output == "table" {
			fmt.Fprintln(stdout)
		}
		first = false
		if err := show(); err != nil {
			return err
		}
		if !c.watch {
			return nil
		}
	}
}

// RunAttachments runs `ovn-dpu-host-agent attachments [flags]` and returns
// its exit code. --watch polls the agent every --interval and prints
// again when anything but the ages changed: the host's state is files and
// a mirrored DPU stream with no single change feed, and a local call a
// second costs nothing.
func RunAttachments(args []string, stdout, stderr io.Writer) int {
	var c common
	var interval time.Duration
	fs := flag.NewFlagSet("ovn-dpu-host-agent "+AttachmentsCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, "socket", netconf.DefaultAgentSocket, "ovn-dpu-host-agent (its --socket)")
	fs.DurationVar(&interval, "interval", time.Second, "with --watch, how often to ask the agent")
	if code, ok := parse(fs, args, &c); !ok {
		return code
	}
	if interval <= 0 {
		fmt.Fprintln(stderr, "ovn-dpu-host-agent attachments: --interval must be positive")
		return exitUsage
	}
	d := daemon{name: "ovn-dpu-host-agent", socket: c.socket}
	return d.run(stderr, c, func(ctx context.Context, conn *grpc.ClientConn) error {
		api := ovndpuv1.NewHostAdminClient(conn)
		var last []byte
		for n := 0; ; n++ {
			resp, err := api.Attachments(ctx, &ovndpuv1.AttachmentsRequest{})
			if err != nil {
				return err
			}
			atts := AttachmentsOf(resp)
			key, _ := json.Marshal(atts)
			if n == 0 || string(key) != string(last) {
				if n > 0 && c.output == "table" {
					fmt.Fprintln(stdout)
				}
				if c.output == "json" {
					err = writeJSON(stdout, atts)
				} else {
					err = WriteAttachmentsTable(stdout, atts, time.Now())
				}
				if err != nil {
					return err
				}
				last = key
			}
			if !c.watch {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(interval):
			}
		}
	})
}

func parse(fs *flag.FlagSet, args []string, c *common) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	if err := c.validate(); err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return exitUsage, false
	}
	return 0, true
}

// maxAnswerBytes bounds one answer the commands read.
const maxAnswerBytes = 64 << 20

// daemon is the running daemon a command asks.
type daemon struct{ name, socket string }

// run dials the daemon and runs call; an interrupt ends a --watch
// cleanly (exit 0).
func (d daemon) run(stderr io.Writer, c common, call func(context.Context, *grpc.ClientConn) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !c.watch {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	// A plain connect first, so that "not running" reads as such rather
	// than as a gRPC transport error.
	var dialer net.Dialer
	probe, err := dialer.DialContext(ctx, "unix", d.socket)
	if err != nil {
		fmt.Fprintf(stderr, "cannot reach %s on %s: %v (is it running?)\n", d.name, d.socket, err)
		return exitFailed
	}
	probe.Close()
	// A host with thousands of attachments answers in one message.
	conn, err := grpc.NewClient("unix:"+d.socket, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxAnswerBytes)))
	if err != nil {
		fmt.Fprintf(stderr, "cannot reach %s on %s: %v\n", d.name, d.socket, err)
		return exitFailed
	}
	defer conn.Close()
	err = call(ctx, conn)
	switch {
	case err == nil:
		return 0
	case c.watch && errors.Is(ctx.Err(), context.Canceled):
		return 0 // interrupted
	}
	switch status.Code(err) {
	case codes.Canceled:
		if c.watch && ctx.Err() != nil {
			return 0
		}
	case codes.Unavailable:
		fmt.Fprintf(stderr, "cannot reach %s on %s: %s (is it running?)\n", d.name, d.socket, status.Convert(err).Message())
		return exitFailed
	case codes.DeadlineExceeded:
		fmt.Fprintf(stderr, "%s on %s did not answer within --timeout %v\n", d.name, d.socket, c.timeout)
		return exitFailed
	case codes.Unimplemented:
		fmt.Fprintf(stderr, "%s on %s does not serve status commands (an older version?): %s\n", d.name, d.socket,
			status.Convert(err).Message())
		return exitFailed
	}
	fmt.Fprintf(stderr, "%s on %s: %s\n", d.name, d.socket, status.Convert(err).Message())
	return exitFailed
}
