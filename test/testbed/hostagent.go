package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// HostAgent is an ovn-dpu-host-agent process in the bed's host namespace
// (or an added host's, Host.StartHostAgent).
type HostAgent struct {
	bed      *Bed
	host     *hostSide
	d        *daemon
	Socket   string // the CNI plugin's agentSocket
	StateDir string
	Log      string
	Node     string
	argv     []string
}

// HostNode is the --node-name StartHostAgent gives the host agent: the
// name its gRPC client certificate must carry as its first DNS SAN (or CN).
func (b *Bed) HostNode() string { return b.host.node }

// StartHostAgent runs ovn-dpu-host-agent in the host namespace (the bed
// needs Options.HostNetns) against NB, the fake sysfs tree and the DPU
// agent at dpuAddr, with extra flags appended.
func (b *Bed) StartHostAgent(ctx context.Context, dpuAddr string, extra ...string) (*HostAgent, error) {
	if b.HostNetns == "" {
		return nil, errors.New("StartHostAgent needs a bed with Options.HostNetns")
	}
	return b.startHostAgent(ctx, b.host, dpuAddr, extra)
}

// startHostAgent runs the agent of host hs: in its namespace, on its
// sysfs tree, with its node name, its socket and state in its dir.
func (b *Bed) startHostAgent(ctx context.Context, hs *hostSide, dpuAddr string, extra []string) (*HostAgent, error) {
	bin, err := Binary("ovn-dpu-host-agent")
	if err != nil {
		return nil, err
	}
	h := &HostAgent{bed: b, host: hs, Socket: filepath.Join(hs.dir, "agent.sock"),
		StateDir: filepath.Join(hs.dir, "state"), Node: hs.node}
	h.argv = append([]string{bin, "--nb=" + b.NBRemote, "--dpu=" + dpuAddr, "--socket=" + h.Socket,
		"--sysfs-root=" + hs.sysfs.Root(), "--state-dir=" + h.StateDir, "--node-name=" + h.Node, "--log-level=debug"}, extra...)
	return h, h.start(ctx)
}

func (h *HostAgent) start(ctx context.Context) error {
	b := h.bed
	b.mu.Lock()
	b.agents++
	name := fmt.Sprintf("host-agent-%d", b.agents)
	b.mu.Unlock()
	h.Log = filepath.Join(b.Dir, name+".stderr")
	if err := os.Remove(h.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var err error
	if h.d, err = b.startProcess(name, h.host.netns, h.Log, h.argv...); err != nil {
		return err
	}
	return b.waitLogged(ctx, h.Log, `msg="ovn-dpu-host-agent serving"`)
}

// Kill ends the host agent with SIGKILL; Restart starts it again with the
// same flags and state.
func (h *HostAgent) Kill() { h.bed.kill(h.d) }

// Restart starts a killed host agent again.
func (h *HostAgent) Restart(ctx context.Context) error { return h.start(ctx) }

// CNIResult is what one cnitool run printed.
type CNIResult struct {
	Stdout, Stderr string
	Err            error
	// StdinRead is how many bytes of its stdin the process consumed, as
	// far as ExecPlugin and ExecBinary can tell: what it read, plus up to
	// what a pipe buffers (64 KiB) and exec's copy loop holds (32 KiB).
	StdinRead int64
}

// runCNI runs cmd with stdin, collecting what it printed and how much of
// stdin it took.
func runCNI(cmd *exec.Cmd, stdin []byte) CNIResult {
	in := &countingReader{r: bytes.NewReader(stdin)}
	cmd.Stdin = in
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return CNIResult{Stdout: strings.TrimSpace(stdout.String()), Stderr: strings.TrimSpace(stderr.String()), Err: err,
		StdinRead: in.n}
}

// countingReader counts what was read through it; exec reads it from one
// goroutine, and Run returns after that goroutine ended.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// CNIError decodes a CNI error printed on stdout (zero Code when none).
func (r CNIResult) CNIError() (code uint, msg string) {
	var e struct {
		Code uint   `json:"code"`
		Msg  string `json:"msg"`
	}
	_ = json.Unmarshal([]byte(r.Stdout), &e)
	return e.Code, e.Msg
}

// CNITool runs `cnitool command network pod-netns` the way a person would,
// with the bed's binaries as CNI_PATH, the network config conf (written to
// a NETCONFPATH of its own) and extra environment (CNI_ARGS=...,
// CNI_IFNAME=..., CAP_ARGS=...).
func (b *Bed) CNITool(ctx context.Context, command, pod string, conf map[string]any, env ...string) CNIResult {
	return b.cnitool(ctx, command, pod, "10-net.conf", conf, env)
}

// CNIToolList is CNITool for a plugin chain: list is a network
// configuration list ({"cniVersion", "name", "plugins": [...]}), written
// as a .conflist.
func (b *Bed) CNIToolList(ctx context.Context, command, pod string, list map[string]any, env ...string) CNIResult {
	return b.cnitool(ctx, command, pod, "10-net.conflist", list, env)
}

// cnitool writes conf as file in a NETCONFPATH of its own (the extension
// tells libcni a config from a list) and runs cnitool on it.
func (b *Bed) cnitool(ctx context.Context, command, pod, file string, conf map[string]any, env []string) CNIResult {
	dir, err := BinDir()
	if err != nil {
		return CNIResult{Err: err}
	}
	confDir, err := os.MkdirTemp(b.Dir, "netconf-")
	if err != nil {
		return CNIResult{Err: err}
	}
	data, err := json.Marshal(conf)
	if err != nil {
		return CNIResult{Err: fmt.Errorf("encoding the network configuration for %s: %w", file, err)}
	}
	if err := os.WriteFile(filepath.Join(confDir, file), data, 0o644); err != nil {
		return CNIResult{Err: err}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "cnitool"), command, fmt.Sprint(conf["name"]), "/var/run/netns/"+pod)
	cmd.Env = append(os.Environ(), "CNI_PATH="+dir, "NETCONFPATH="+confDir)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return CNIResult{Stdout: strings.TrimSpace(stdout.String()), Stderr: strings.TrimSpace(stderr.String()), Err: err}
}

// ExecPlugin runs ovn-dpu-cni directly, as a container runtime does (CNI_*
// environment, config on stdin), so a test sees the CNI error code on
// stdout that cnitool would fold into a message.
func (b *Bed) ExecPlugin(ctx context.Context, command, containerID, pod, ifname string, conf map[string]any, env ...string) CNIResult {
	dir, err := BinDir()
	if err != nil {
		return CNIResult{Err: err}
	}
	data, _ := json.Marshal(conf)
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "ovn-dpu-cni"))
	cmd.Env = append(os.Environ(), "CNI_COMMAND="+command, "CNI_PATH="+dir)
	if command != "GC" && command != "STATUS" { // these take no attachment
		cmd.Env = append(cmd.Env, "CNI_CONTAINERID="+containerID, "CNI_NETNS=/var/run/netns/"+pod, "CNI_IFNAME="+ifname)
	}
	cmd.Env = append(cmd.Env, env...)
	return runCNI(cmd, data)
}
