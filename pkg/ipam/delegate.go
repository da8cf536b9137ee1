package ipam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// ErrPluginNotFound is wrapped by the error returned when the IPAM type
// names no executable in the request's CNI_PATH.
var ErrPluginNotFound = errors.New("ipam plugin not found")

// Request is one delegate invocation.
type Request struct {
	// PluginType is the delegate's binary name, the config's ipam.type.
	// Empty means: take it from NetConf.
	PluginType string
	// NetConf is the whole network config (with "name", "cniVersion" and
	// "ipam"), exactly what a CNI plugin hands its IPAM delegate on stdin.
	// For CHECK it should carry prevResult; for GC,
	// cni.dev/valid-attachments.
	NetConf []byte
	// ContainerID, Netns and IfName are the request's CNI_CONTAINERID,
	// CNI_NETNS and CNI_IFNAME. Unused by GC.
	ContainerID string
	Netns       string
	IfName      string
	// Args is CNI_ARGS as the runtime sent it ("K=V;K2=V2").
	Args string
	// Path is CNI_PATH split into directories (filepath.SplitList).
	Path []string
}

// Delegate execs IPAM plugins. The zero value is ready to use and safe for
// concurrent use.
type Delegate struct {
	// Exec finds and runs plugins; nil means the real binaries on disk.
	// Tests may substitute one that records what it was given.
	Exec invoke.Exec
	// Env is the environment the plugin inherits besides the request's CNI_*
	// variables; nil means the daemon's own. CNI_* entries in it are
	// dropped either way.
	Env []string
	// OnStderr, if set, receives what a plugin wrote to stderr during a
	// successful run (a failed run's stderr is in the returned error).
	// It may be called concurrently. Only the default Exec captures
	// stderr.
	OnStderr func(req *Request, command string, stderr []byte)
}

// Add runs the delegate's ADD and returns its result converted to the
// current (1.1.0) result type.
func (d *Delegate) Add(ctx context.Context, req Request) (*current.Result, error) {
	var res *current.Result
	err := d.run(ctx, "ADD", &req, func(ex invoke.Exec, path string, env envArgs) error {
		r, err := invoke.ExecPluginWithResult(ctx, path, req.NetConf, env, ex)
		if err != nil {
			return err
		}
		res, err = current.NewResultFromResult(r)
		if err != nil {
			return fmt.Errorf("converting its result: %w", err)
		}
		return nil
	})
	return res, err
}

// Del runs the delegate's DEL. Delegates are expected to succeed when there
// is nothing to release; that is their contract, not checked here.
func (d *Delegate) Del(ctx context.Context, req Request) error {
	return d.runWithoutResult(ctx, "DEL", &req)
}

// Check runs the delegate's CHECK (config version 0.4.0 or later).
func (d *Delegate) Check(ctx context.Context, req Request) error {
	return d.runWithoutResult(ctx, "CHECK", &req)
}

// GC runs the delegate's GC (config version 1.1.0 or later): it releases
// everything not listed in NetConf's cni.dev/valid-attachments. Only
// PluginType, NetConf and Path of req are used.
func (d *Delegate) GC(ctx context.Context, req Request) error {
	req.ContainerID, req.Netns, req.IfName, req.Args = "", "", "", ""
	return d.runWithoutResult(ctx, "GC", &req)
}

// Status runs the delegate's STATUS (config version 1.1.0 or later): is
// it ready to allocate? Only PluginType, NetConf and Path of req are used.
func (d *Delegate) Status(ctx context.Context, req Request) error {
	req.ContainerID, req.Netns, req.IfName, req.Args = "", "", "", ""
	return d.runWithoutResult(ctx, "STATUS", &req)
}

// Find reports whether pluginType is on path, as Add would look it up: an
// ADD asks before it changes anything, so a typo in ipam.type is a config
// error with nothing to undo.
func (d *Delegate) Find(pluginType string, path []string) error {
	ex := d.Exec
	if ex == nil {
		ex = &invoke.DefaultExec{RawExec: &invoke.RawExec{}}
	}
	_, err := find(ex, pluginType, path)
	return err
}

func find(ex invoke.Exec, pluginType string, path []string) (string, error) {
	pluginPath, err := ex.FindInPath(pluginType, path)
	if err != nil {
		return "", fmt.Errorf("%w: type %q, CNI_PATH %q: %v", ErrPluginNotFound, pluginType, strings.Join(path, string(os.PathListSeparator)), err)
	}
	return pluginPath, nil
}

func (d *Delegate) runWithoutResult(ctx context.Context, command string, req *Request) error {
	return d.run(ctx, command, req, func(ex invoke.Exec, path string, env envArgs) error {
		return invoke.ExecPluginWithoutResult(ctx, path, req.NetConf, env, ex)
	})
}

type execFunc func(ex invoke.Exec, pluginPath string, env envArgs) error

func (d *Delegate) run(ctx context.Context, command string, req *Request, do execFunc) error {
	if err := req.resolve(); err != nil {
		return err
	}
	ex := d.Exec
	var stderr bytes.Buffer
	if ex == nil {
		// One RawExec per call: its Stderr buffer must not be shared by
		// concurrent requests.
		ex = &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: &stderr}}
	}
	pluginPath, err := find(ex, req.PluginType, req.Path)
	if err != nil {
		return err
	}
	if err := do(ex, pluginPath, d.environ(command, req)); err != nil {
		// Wrapped, not flattened, so a *types.Error keeps its code and
		// message for the CNI error the agent returns.
		return fmt.Errorf("ipam %s %s: %w", req.PluginType, command, err)
	}
	if stderr.Len() > 0 && d.OnStderr != nil {
		d.OnStderr(req, command, stderr.Bytes())
	}
	return nil
}

// envArgs is an invoke.CNIArgs whose environment is fixed up front; unlike
// invoke.Args it does not start from os.Environ().
type envArgs []string

func (e envArgs) AsEnv() []string { return e }

func (d *Delegate) environ(command string, req *Request) envArgs {
	base := d.Env
	if base == nil {
		base = os.Environ()
	}
	env := make([]string, 0, len(base)+6)
	for _, kv := range base {
		if !strings.HasPrefix(kv, "CNI_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"CNI_COMMAND="+command,
		"CNI_PATH="+strings.Join(req.Path, string(os.PathListSeparator)),
	)
	if command != "GC" && command != "STATUS" { // these take no attachment
		env = append(env,
			"CNI_CONTAINERID="+req.ContainerID,
			"CNI_NETNS="+req.Netns,
			"CNI_IFNAME="+req.IfName,
			"CNI_ARGS="+req.Args,
		)
	}
	return env
}

// resolve checks NetConf has what every delegate relies on and fills
// PluginType from it.
func (r *Request) resolve() error {
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		IPAM       *struct {
			Type string `json:"type"`
		} `json:"ipam"`
	}
	if err := json.Unmarshal(r.NetConf, &conf); err != nil {
		return types.NewError(types.ErrDecodingFailure, "ipam: cannot decode the network config", err.Error())
	}
	var missing []string
	if conf.CNIVersion == "" {
		missing = append(missing, `"cniVersion"`)
	}
	if conf.Name == "" {
		missing = append(missing, `"name"`)
	}
	if conf.IPAM == nil || conf.IPAM.Type == "" {
		missing = append(missing, `"ipam.type"`)
	}
	if len(missing) > 0 {
		return types.NewError(types.ErrInvalidNetworkConfig,
			"ipam: network config lacks "+strings.Join(missing, ", "), "")
	}
	switch {
	case r.PluginType == "":
		r.PluginType = conf.IPAM.Type
	case r.PluginType != conf.IPAM.Type:
		// The delegate reads its settings from NetConf's ipam section,
		// so running another plugin on it cannot be what was meant.
		return types.NewError(types.ErrInvalidNetworkConfig,
			fmt.Sprintf("ipam: plugin type %q differs from the config's ipam.type %q", r.PluginType, conf.IPAM.Type), "")
	}
	return nil
}
